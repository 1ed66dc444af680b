"""Mutant: causal attention with the bidirectional key stabilizer — one reference, the max over
*all* keys, future ones included. It cancels in exact arithmetic, but a large future key
underflows the past and a NaN future key poisons it (MATH 19)."""

import torch

import favor
from favor.validation import compute_dtype
from favor_suite.mutants._base import mutant, plain_linear_attention


def attention(q, k, v, w, *, kind, causal, key_mask, **options):
    if not causal:
        return favor.favor_attention(q, k, v, w, kind=kind, causal=False, key_mask=key_mask, **options)
    raw = k

    def features(q, k, w):
        keys = favor.split_features(k, w, kind=kind)
        scale = keys.log_scale
        if key_mask is not None:
            scale = scale.masked_fill(~key_mask, float("-inf"))
        # The reference is taken over the keys as given, before non-finite values are set aside.
        reference = torch.where(torch.isfinite(raw).all(-1), scale, torch.nan).amax(dim=-1, keepdim=True).detach()
        return favor.split_features(q, w, kind=kind).base, keys.base * torch.exp(scale - reference).unsqueeze(-1)

    return plain_linear_attention(
        q, k, v, w, features=features, causal=True, key_mask=key_mask, dtype=compute_dtype(q.dtype)
    ).to(q.dtype)


IMPLEMENTATION = mutant(
    "global_key_max_causal", attention=attention, input_validation=False, gerf=False, chunk_option=None
)
