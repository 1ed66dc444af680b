"""Mutant: q and k enter the features without the d^(-1/4) scaling, so the result estimates
softmax(qkᵀ)v instead of softmax(qkᵀ/√d)v (MATH 1)."""

import favor
from favor_suite.mutants._base import mutant


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    up = q.shape[-1] ** 0.25
    return favor.favor_attention(q * up, k * up, v, w, kind=kind, causal=causal, key_mask=key_mask, **options)


IMPLEMENTATION = mutant(
    "no_data_scaling", attention=attention, input_validation=False, gerf=True, chunk_option="chunk_size"
)
