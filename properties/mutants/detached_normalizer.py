"""Mutant: favor's stabilized scan, with the normalizer D̂ = φ(Q̃)(φ(K̃)ᵀ1) computed from detached
features (a "stabilizing" habit) and the numerator φ(Q̃)(φ(K̃)ᵀV) from live ones. The forward
output equals favor's to rounding; the backward drops every term through D̂, so dq and dk are
wrong."""

import torch

from favor.attention import _bidirectional, _causal
from favor_suite.mutants._base import mutant, prepared


def attention(q, k, v, w, *, kind, causal, key_mask, chunk_size=128, **options):
    qb, kb, k_log, v, poison, out_dtype = prepared(q, k, v, w, kind=kind, causal=causal, key_mask=key_mask)

    def run(qb, kb, k_log, values):
        return _causal(qb, kb, k_log, values, chunk_size) if causal else _bidirectional(qb, kb, k_log, values)

    numerator = run(qb, kb, k_log, v)
    normalizer = run(qb.detach(), kb.detach(), k_log.detach(), torch.ones_like(v[..., :1]))
    return (numerator / normalizer).masked_fill(poison, float("nan")).to(out_dtype)


IMPLEMENTATION = mutant(
    "detached_normalizer", attention=attention, input_validation=False, gerf=False, chunk_option="chunk_size"
)
