"""Mutant: the causal scan forgets to carry its state from one chunk to the next, so each query
sees only the keys of its own chunk (16 tokens)."""

import torch

import favor
from favor_suite.mutants._base import mutant

CHUNK = 16


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    if not causal:
        return favor.favor_attention(q, k, v, w, kind=kind, causal=False, key_mask=key_mask, **options)
    parts = []
    for start in range(0, q.shape[-2], CHUNK):
        cut = slice(start, start + CHUNK)
        mask = None if key_mask is None else key_mask[..., cut]
        parts.append(
            favor.favor_attention(
                q[..., cut, :], k[..., cut, :], v[..., cut, :], w, kind=kind, causal=True, key_mask=mask
            )
        )
    return torch.cat(parts, dim=-2)


IMPLEMENTATION = mutant(
    "chunk_state_not_carried", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
