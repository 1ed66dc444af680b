"""Attention-output error of FAVOR+ and FAVOR++ against exact float64 softmax attention.

Error of one draw: ‖Ŷ − Y‖_F / ‖Y‖_F, Y = :func:`favor_suite.reference.softmax.softmax_attention` (float64),
Ŷ = :func:`favor.favor_attention`, bidirectional, block-orthogonal projections (χ_d norms).
q, k, v ~ N(0, 1), then q and k multiplied by a scale σ: the logits qᵀk/√d have standard
deviation σ², and s = ‖q̃ + k̃‖² ≈ 2σ²√d. FAVOR+ (positive features) has per-entry relative
variance (e^s − 1)/m (MATH 8); FAVOR++ (GERF with the data-dependent A*, MATH 21-23, [CRT])
lowers it, the more so the larger s, so its advantage should grow with σ, until both errors
approach 1 (the estimate no longer resembles Y) and the comparison saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import favor
from favor_suite.reference.softmax import softmax_attention

__all__ = ["METHODS", "ErrorPoint", "relative_error", "sweep"]

METHODS: dict[str, dict[str, object]] = {
    "FAVOR+ (positive)": {"kind": "positive"},
    "FAVOR++ (GERF, A*)": {"kind": "gerf", "gerf_a": "optimal"},
}


@dataclass(frozen=True)
class ErrorPoint:
    """Mean relative error over the draws at one (m, σ), and its standard error."""

    method: str
    m: int
    scale: float
    mean: float
    stderr: float


def relative_error(method: str, *, m: int, scale: float, length: int, d: int, seed: int) -> float:
    """‖Ŷ − Y‖_F/‖Y‖_F for one draw of inputs and projection from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(length, d, generator=generator, dtype=torch.float64) for _ in range(3))
    q, k = q * scale, k * scale
    projection = favor.draw_projection(m, d, generator=generator, orthogonal=True, dtype=torch.float64)
    estimate = favor.favor_attention(q, k, v, projection, **METHODS[method])
    exact = softmax_attention(q, k, v)
    return float((estimate - exact).norm() / exact.norm())


def sweep(
    *, ms: tuple[int, ...], scales: tuple[float, ...], draws: int, length: int = 256, d: int = 16
) -> list[ErrorPoint]:
    """Every method at every (m, σ); draw i uses seed i for both methods (paired comparison)."""
    points = []
    for method in METHODS:
        for m in ms:
            for scale in scales:
                errors = [relative_error(method, m=m, scale=scale, length=length, d=d, seed=i) for i in range(draws)]
                points.append(ErrorPoint(method, m, scale, float(np.mean(errors)),
                                         float(np.std(errors, ddof=1) / np.sqrt(draws))))
    return points
