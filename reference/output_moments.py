"""Bias and variance of the FAVOR+ attention output Ŷ, a ratio estimator (MATH 17, 20)."""

from __future__ import annotations

import torch

from reference.softmax import allowed_pairs, softmax_attention

__all__ = ["delta_method_moments"]


def delta_method_moments(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    m: int,
    *,
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First-order (delta-method) bias and variance of Ŷ_ic with m iid positive features.

    **(derived)**, MATH 20. For row i, with q̃ = d^(-1/4)q, k̃ = d^(-1/4)k, a_j = exp(q̃_iᵀk̃_j),
    z_j = q̃_i + k̃_j, C_jl = a_j a_l (exp(z_jᵀz_l) − 1) (m·Cov(Â_ij, Â_il) for iid positive
    features), D = Σ_j a_j, y = Y_ic and r_j = V_jc − y:

        bias ≈ −(1/(m D²)) Σ_jl C_jl r_j,    Var ≈ (1/(m D²)) Σ_jl C_jl r_j r_l   (+O(m⁻²)).

    Sums run over the allowed keys (j, l ≤ i when causal; masked keys removed). Accurate for
    m ≥ 32. Cost O(Lq·Lk²·d): test sizes only. Returns ``(bias, variance)``, each ``[..., Lq, dv]``.
    """
    q, k, v = q.double(), k.double(), v.double()
    scale = q.shape[-1] ** -0.25
    qt, kt = q * scale, k * scale
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=q.device)
    qk = qt @ kt.transpose(-2, -1)
    a = torch.exp(qk) * allowed
    kk = kt @ kt.transpose(-2, -1)
    q2 = qt.square().sum(-1)
    # z_jᵀz_l = ‖q̃_i‖² + q̃_iᵀk̃_j + q̃_iᵀk̃_l + k̃_jᵀk̃_l, per row i: [..., Lq, Lk, Lk]
    zz = q2[..., :, None, None] + qk[..., :, :, None] + qk[..., :, None, :] + kk[..., None, :, :]
    cov = a[..., :, :, None] * a[..., :, None, :] * torch.expm1(zz)
    denom = a.sum(-1)
    y = softmax_attention(q, k, v, causal=causal, key_mask=key_mask)
    r = v[..., None, :, :] - y[..., :, None, :]  # [..., Lq, Lk, dv]
    cov_r = torch.einsum("...ijl,...ild->...ijd", cov, r)  # Σ_l C_jl r_l
    bias = -cov_r.sum(-2) / (m * denom[..., None] ** 2)
    var = (cov_r * r).sum(-2) / (m * denom[..., None] ** 2)
    return bias, var
