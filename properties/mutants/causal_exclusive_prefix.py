"""Mutant: an exclusive prefix sum — query i sees keys j < i, not j ≤ i (MATH 1 includes the
diagonal). Row 0 becomes 0/0."""

import torch

import favor
from favor_suite.mutants._base import mutant


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    if not causal:
        return favor.favor_attention(q, k, v, w, kind=kind, causal=False, key_mask=key_mask, **options)
    shift = lambda x: torch.cat([torch.zeros_like(x[..., :1, :]), x[..., :-1, :]], dim=-2)  # noqa: E731
    keep = torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device) if key_mask is None else key_mask
    keep = torch.cat([torch.zeros_like(keep[..., :1]), keep[..., :-1]], dim=-1)
    return favor.favor_attention(q, shift(k), shift(v), w, kind=kind, causal=True, key_mask=keep, **options)


IMPLEMENTATION = mutant(
    "causal_exclusive_prefix", attention=attention, input_validation=False, gerf=True, chunk_option="chunk_size"
)
