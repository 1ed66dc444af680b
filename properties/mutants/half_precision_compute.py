"""Mutant: bidirectional attention computed in the input dtype, bf16/fp16 included, without the
fp32 accumulation the spec asks for: roundoff of 2⁻⁸ (bf16) in every sum."""

import favor
from favor_suite.mutants._base import mutant, plain_linear_attention


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    if causal:
        return favor.favor_attention(q, k, v, w, kind=kind, causal=True, key_mask=key_mask, **options)

    def features(q, k, w):
        keys = favor.split_features(k, w, kind=kind)
        scale = keys.log_scale if key_mask is None else keys.log_scale.masked_fill(~key_mask, float("-inf"))
        weights = (scale - scale.amax(dim=-1, keepdim=True)).exp()
        return favor.split_features(q, w, kind=kind).base, keys.base * weights.unsqueeze(-1)

    return plain_linear_attention(q, k, v, w, features=features, causal=False, key_mask=key_mask)


IMPLEMENTATION = mutant(
    "half_precision_compute", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
