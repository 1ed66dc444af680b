"""Mutant: D̂ + ε with ε = 1e-6 in the normalizer, the "safe division" habit (fla's naive kernels
add 1e-10). It biases every output towards 0 by a factor D̂/(D̂ + ε)."""

import favor
from favor_suite.mutants._base import mutant
from favor_suite.reference.softmax import scaled

EPSILON = 1e-6


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    out = favor.favor_attention(q, k, v, w, kind=kind, causal=causal, key_mask=key_mask, **options)
    qf, kf = (favor.feature_map(scaled(x.double()), w.double(), kind=kind) for x in (q, k))
    if key_mask is not None:
        kf = kf * key_mask.unsqueeze(-1).to(kf.dtype)
    keys = kf.cumsum(dim=-2) if causal else kf.sum(dim=-2, keepdim=True)
    normalizer = (qf * keys).sum(-1, keepdim=True)
    return out * (normalizer / (normalizer + EPSILON)).to(out.dtype)


IMPLEMENTATION = mutant(
    "epsilon_in_normalizer", attention=attention, input_validation=True, gerf=False, chunk_option="chunk_size"
)
