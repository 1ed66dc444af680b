"""Building blocks shared by the mutants: favor's correct parts, a record constructor that makes a
mutant declare what it implements, and a plain linear attention on features chosen by the mutant
(favor's NaN isolation kept, nothing else)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch

import favor
from favor.attention import _poison, _sanitize
from favor.validation import compute_dtype
from favor_suite.adapters.favor_impl import sample_projection as favor_sampler
from favor_suite.implementation import Implementation
from favor_suite.reference.softmax import scaled

__all__ = ["FAVOR_KINDS", "Prepared", "favor_sampler", "mutant", "plain_linear_attention", "prepared"]

FAVOR_KINDS = ("positive", "hyperbolic", "trigonometric")
FAVOR_ATTENTION = partial(favor.favor_attention, backend="torch")
"""favor's attention on its PyTorch code, whatever the device (the Triton backend is its own record)."""

Features = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def mutant(
    name: str,
    *,
    sample_projection: Callable[..., torch.Tensor] = favor_sampler,
    feature_map: Callable[..., torch.Tensor] = favor.feature_map,
    attention: Callable[..., torch.Tensor] = FAVOR_ATTENTION,
    input_validation: bool,
    gerf: bool,
    chunk_option: str | None,
    feature_kinds: tuple[str, ...] = FAVOR_KINDS,
) -> Implementation:
    """A mutant's record. Parts not given are favor's own; the flags that depend on the parts a
    mutant replaces are keyword arguments without a default, so every mutant states whether its
    attention validates its inputs, accepts ``gerf_a`` and has a block-length option."""
    return Implementation(
        name=name,
        sample_projection=sample_projection,
        feature_map=feature_map,
        attention=attention,
        feature_kinds=feature_kinds,
        input_validation=input_validation,
        gerf=gerf,
        chunk_option=chunk_option,
    )


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
    """D̂⁻¹ φ_Q(φ_Kᵀ[V 1]) with ``(φ_Q, φ_K) = features(q̃, k̃, w)`` computed in ``dtype``
    (default: the input dtype), a causal chunked scan without any rescaling, and favor's NaN
    isolation, so that a mutant differs from favor only where it says. It validates nothing."""
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


class Prepared(NamedTuple):
    """favor's inputs to its scan: features in split form (the keys' log-scales masked), values,
    the outputs a non-finite input poisons, and the dtype to return."""

    qb: torch.Tensor
    kb: torch.Tensor
    k_log: torch.Tensor
    v: torch.Tensor
    poison: torch.Tensor
    out_dtype: torch.dtype


def prepared(q, k, v, w, *, kind: str, causal: bool, key_mask) -> Prepared:
    """What favor_attention computes before its scan, so that a mutant of the scan differs from
    favor only in the scan."""
    keep = torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device) if key_mask is None else key_mask
    poison = _poison(q, k, v, keep, causal)
    out_dtype, work = q.dtype, compute_dtype(q.dtype)
    q, k, v = (_sanitize(x.to(work)) for x in (q, k, v))
    qb, _ = favor.split_features(scaled(q), w.to(work), kind=kind)
    kb, k_log = favor.split_features(scaled(k), w.to(work), kind=kind)
    return Prepared(qb, kb, k_log.masked_fill(~keep, float("-inf")), v, poison, out_dtype)
