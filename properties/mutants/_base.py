"""Building blocks shared by the mutants: the correct record to start from, and a plain linear
attention on features chosen by the mutant (favor's NaN isolation kept, nothing else)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from favor.attention import _poison, _sanitize
from properties.adapters.favor_impl import IMPLEMENTATION as CORRECT
from properties.implementation import Implementation

__all__ = ["CORRECT", "mutant", "plain_linear_attention", "scaled"]

Features = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def mutant(name: str, **changes: object) -> Implementation:
    """The correct implementation with the given capabilities replaced."""
    return dataclasses.replace(CORRECT, name=name, **changes)


def scaled(x: torch.Tensor) -> torch.Tensor:
    return x * x.shape[-1] ** -0.25


def plain_linear_attention(
    q,
    k,
    v,
    w,
    *,
    features: Features,
    causal: bool,
    key_mask=None,
    dtype: torch.dtype | None = None,
    chunk_size: int = 16,
) -> torch.Tensor:
    """D̂⁻¹ φ_Q(φ_Kᵀ[V 1]) with ``(φ_Q, φ_K) = features(q̃, k̃, keep)`` computed in ``dtype``
    (default: the input dtype), a causal chunked scan without any rescaling, and favor's NaN
    isolation, so that a mutant differs from favor only where it says."""
    keep = torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device) if key_mask is None else key_mask
    poison = _poison(q, k, v, keep, causal)
    work = dtype or q.dtype
    q, k, v = (_sanitize(x.to(work)) for x in (q, k, v))
    qf, kf = features(scaled(q), scaled(k), w.to(work))
    kf = kf * keep.unsqueeze(-1).to(kf.dtype)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    if not causal:
        num = qf @ (kf.transpose(-2, -1) @ v1)
    else:
        state = qf.new_zeros(*qf.shape[:-2], qf.shape[-1], v1.shape[-1])
        parts = []
        for start in range(0, qf.shape[-2], chunk_size):
            q_c, k_c, v_c = (x[..., start : start + chunk_size, :] for x in (qf, kf, v1))
            parts.append((q_c @ k_c.transpose(-2, -1)).tril() @ v_c + q_c @ state)
            state = state + k_c.transpose(-2, -1) @ v_c
        num = torch.cat(parts, dim=-2)
    out = (num[..., :-1] / num[..., -1:]).masked_fill(poison, float("nan"))
    return out.to(v.dtype if dtype is None else q.dtype)
