"""Mutant: favor's stabilized scan, with the normalizer D̂ = φ(Q̃)(φ(K̃)ᵀ1) computed from detached
features (a "stabilizing" habit) and the numerator φ(Q̃)(φ(K̃)ᵀV) from live ones. The forward
output equals favor's to rounding; the backward drops every term through D̂, so dq and dk are
wrong."""

import torch

import favor
from favor.attention import _bidirectional, _causal, _poison, _sanitize
from favor.validation import compute_dtype
from favor_suite.mutants._base import mutant
from favor_suite.reference.softmax import scaled


def attention(q, k, v, w, *, kind, causal, key_mask, chunk_size=128, **options):
    keep = torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device) if key_mask is None else key_mask
    poison = _poison(q, k, v, keep, causal)
    out_dtype, work = q.dtype, compute_dtype(q.dtype)
    q, k, v = (_sanitize(x.to(work)) for x in (q, k, v))
    qb, _ = favor.split_features(scaled(q), w.to(work), kind=kind)
    kb, k_log = favor.split_features(scaled(k), w.to(work), kind=kind)
    k_log = k_log.masked_fill(~keep, float("-inf"))

    def run(qb, kb, k_log, values):
        return _causal(qb, kb, k_log, values, chunk_size) if causal else _bidirectional(qb, kb, k_log, values)

    numerator = run(qb, kb, k_log, v)
    normalizer = run(qb.detach(), kb.detach(), k_log.detach(), torch.ones_like(v[..., :1]))
    return (numerator / normalizer).masked_fill(poison, float("nan")).to(out_dtype)


IMPLEMENTATION = mutant(
    "detached_normalizer", attention=attention, input_validation=False, gerf=False, chunk_option="chunk_size"
)
