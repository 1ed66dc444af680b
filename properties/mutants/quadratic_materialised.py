"""Mutant: the right numbers computed the O(L²) way — Â = φ(Q̃)φ(K̃)ᵀ materialised as an L×L
matrix. Only the cost properties can tell."""

import favor
from favor_suite.mutants._base import mutant
from favor_suite.reference.softmax import scaled


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    scores = favor.feature_map(scaled(q), w, kind=kind) @ favor.feature_map(scaled(k), w, kind=kind).transpose(-2, -1)
    if causal:
        scores = scores.tril()
    if key_mask is not None:
        scores = scores * key_mask.unsqueeze(-2).to(scores.dtype)
    return (scores @ v) / scores.sum(-1, keepdim=True)


IMPLEMENTATION = mutant(
    "quadratic_materialised", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
