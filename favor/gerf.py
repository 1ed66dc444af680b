"""The optimal GERF parameter A* for FAVOR++ ([CRT] Likhosherstov et al. 2022, MATH 23)."""

from __future__ import annotations

import torch

__all__ = ["optimal_gerf_a", "optimal_gerf_parameter"]


def optimal_gerf_a(rho: torch.Tensor | float) -> torch.Tensor:
    """A*(ρ) = (1/16)(1 − 2ρ − √((2ρ+1)² + 8ρ)), ρ = s/d. Always ≤ −ρ/4 ≤ 0, hence admissible."""
    rho = torch.as_tensor(rho)
    return (1.0 - 2.0 * rho - torch.sqrt((2.0 * rho + 1.0) ** 2 + 8.0 * rho)) / 16.0


def optimal_gerf_parameter(q: torch.Tensor, k: torch.Tensor, *, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A* with ρ the mean of ‖q̃_i + k̃_j‖²/d over all (i, j) pairs, in O(Ld) (MATH 23).

    q: ``[..., Lq, d]``, k: ``[..., Lk, d]`` already scaled by d^(-1/4); masked keys are left
    out. Returns ``[...]``, detached: A is a tuning choice, not a function to differentiate.
    """
    q, k = q.detach(), k.detach()
    d = q.shape[-1]
    if key_mask is not None:
        k = k * key_mask.unsqueeze(-1).to(k.dtype)
        n_k = key_mask.sum(dim=-1).to(k.dtype)
    else:
        n_k = torch.full(k.shape[:-2], k.shape[-2], dtype=k.dtype, device=k.device)
    n_q = q.shape[-2]
    mean_q2 = q.square().sum(dim=(-2, -1)) / n_q
    mean_k2 = k.square().sum(dim=(-2, -1)) / n_k
    cross = (q.sum(dim=-2) * k.sum(dim=-2)).sum(dim=-1) / (n_q * n_k)
    return optimal_gerf_a((mean_q2 + 2.0 * cross + mean_k2) / d)
