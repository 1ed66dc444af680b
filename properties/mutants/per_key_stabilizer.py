"""Mutant: every key row divided by its own largest feature — a stabilizer that differs from key
to key and so does not cancel (MATH 19): keys are reweighted by exp(−max_r log φ_r(k̃_j))."""

import favor
from favor.validation import compute_dtype
from favor_suite.mutants._base import mutant, plain_linear_attention


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    def features(q, k, w):
        return favor.split_features(q, w, kind=kind).base, favor.split_features(k, w, kind=kind).base

    return plain_linear_attention(
        q, k, v, w, features=features, causal=causal, key_mask=key_mask, dtype=compute_dtype(q.dtype)
    ).to(q.dtype)


IMPLEMENTATION = mutant(
    "per_key_stabilizer", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
