"""Mutant: masked keys are dropped from the numerator (their values zeroed) but still counted in
the normalizer D̂, so padded outputs shrink towards 0."""

import favor
from favor_suite.mutants._base import mutant


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    if key_mask is not None:
        v = v * key_mask.unsqueeze(-1).to(v.dtype)
    return favor.favor_attention(q, k, v, w, kind=kind, causal=causal, key_mask=None, **options)


IMPLEMENTATION = mutant(
    "mask_ignored_in_normalizer", attention=attention, input_validation=False, gerf=True, chunk_option="chunk_size"
)
