"""Exact softmax attention in float64: the truth every implementation is measured against.

Also the naive O(L²) attention on *given* features, the twin of the linear-time algorithm
(fla keeps a naive reference beside each fast kernel; so do we).
"""

from __future__ import annotations

import torch

__all__ = ["allowed_pairs", "feature_attention", "scaled", "softmax_attention", "softmax_kernel"]


def scaled(x: torch.Tensor) -> torch.Tensor:
    """x̃ = d^(-1/4)·x over the last dim d, so that SM(q̃, k̃) = exp(qᵀk/√d) (MATH 1)."""
    return x * x.shape[-1] ** -0.25


def softmax_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SM(x, y) = exp(xᵀy) over the last dim, in float64. (MATH 1)"""
    return torch.exp((x.double() * y.double()).sum(dim=-1))


def allowed_pairs(
    length_q: int, length_k: int, *, causal: bool, key_mask: torch.Tensor | None, device: torch.device
) -> torch.Tensor:
    """``[..., Lq, Lk]`` bool: which (query, key) pairs enter the attention."""
    allowed = torch.ones(length_q, length_k, dtype=torch.bool, device=device)
    if causal:
        allowed = allowed.tril()
    if key_mask is not None:
        allowed = allowed & key_mask.unsqueeze(-2)
    return allowed


def _normalize(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (weights @ v) / weights.sum(dim=-1, keepdim=True)


def softmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Att(Q, K, V) = D⁻¹AV, A = exp(QKᵀ/√d) (tril if causal; masked keys removed), float64.

    Computed as a softmax with the row max subtracted (exact in real arithmetic). A query with
    no allowed key gets NaN (0/0). (MATH 1, [P] eq. 1-2)
    """
    q, k, v = q.double(), k.double(), v.double()
    logits = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=q.device)
    logits = logits.masked_fill(~allowed, float("-inf"))
    shift = logits.amax(dim=-1, keepdim=True).nan_to_num(neginf=0.0)
    return _normalize(torch.exp(logits - shift), v)


def feature_attention(
    q_features: torch.Tensor,
    k_features: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Ŷ = D̂⁻¹ÂV with Â = φ(Q)φ(K)ᵀ materialised (L×L), float64. (MATH 17)

    The quadratic computation the linear-time algorithm must equal on the same features.
    """
    qf, kf, v = q_features.double(), k_features.double(), v.double()
    scores = qf @ kf.transpose(-2, -1)
    allowed = allowed_pairs(qf.shape[-2], kf.shape[-2], causal=causal, key_mask=key_mask, device=qf.device)
    return _normalize(scores.masked_fill(~allowed, 0.0), v)
