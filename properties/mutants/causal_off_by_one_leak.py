"""Mutant: the causal prefix sum is read one position late, so query i sees keys j ≤ i + 1: one
future token leaks into every output but the last."""

import torch

import favor
from favor_suite.mutants._base import mutant


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    run = lambda qq, c: favor.favor_attention(qq, k, v, w, kind=kind, causal=c, key_mask=key_mask, **options)  # noqa: E731
    if not causal or q.shape[-2] < 2:
        return run(q, causal)
    # Query i placed at position i + 1 of a causal scan sees keys ≤ i + 1; the last query sees all keys.
    delayed = torch.cat([q[..., :1, :], q[..., :-1, :]], dim=-2)
    leaked = run(delayed, True)[..., 1:, :]
    return torch.cat([leaked, run(q, False)[..., -1:, :]], dim=-2)


IMPLEMENTATION = mutant(
    "causal_off_by_one_leak", attention=attention, input_validation=False, gerf=True, chunk_option="chunk_size"
)
