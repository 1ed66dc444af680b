"""Replicates drawn through the implementation under test, for the statistical properties."""

from __future__ import annotations

import torch

from properties.implementation import Implementation

__all__ = ["kernel_estimates", "projections"]


def projections(
    impl: Implementation, calls: int, m: int, d: int, *, orthogonal: bool, norms: str, gen: torch.Generator
) -> torch.Tensor:
    """``[calls, m, d]`` float64: independent projections, one ``sample_projection`` call each."""
    draws = [impl.sample_projection(m, d, orthogonal=orthogonal, norms=norms, generator=gen) for _ in range(calls)]
    return torch.stack([w.detach().to(device=gen.device, dtype=torch.float64) for w in draws])


def kernel_estimates(
    impl: Implementation, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, kind: str, **options: object
) -> torch.Tensor:
    """``[calls]``: Â = φ(x)ᵀφ(y) for each projection ``w[c]`` (``feature_map`` called per projection)."""
    pair = torch.stack([x, y])
    estimates = []
    for proj in w:
        phi = impl.feature_map(pair, proj, kind=kind, **options).double()
        estimates.append((phi[0] * phi[1]).sum())
    return torch.stack(estimates)
