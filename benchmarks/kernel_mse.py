"""MSE of one kernel estimate φ(x)ᵀφ(y) ≈ SM(x, y) against m: Monte Carlo beside the closed forms.

Empirical: ``replicates`` independent projections of m rows from :func:`favor.draw_projection`,
features from :func:`favor.feature_map`, the mean of (estimate − SM)² and its standard error.
Closed forms (:mod:`favor_suite.reference.kernel_moments`): MATH 7-9 (iid), 12 (ORF, derived), 22 (GERF).
All relative: divided by SM², so kinds are comparable on one axis ([P] Fig. 3 shows the same).

One draw of ``replicates·m`` rows serves all replicates: consecutive groups of m rows are the
replicates. Rows of an iid draw are independent; an ORF draw is made of independent blocks of d
rows, so with m a multiple of d every group is ⌈m/d⌉ whole blocks — exactly an ORF draw of m rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

import favor
from favor_suite.reference import kernel_moments as km

__all__ = ["ESTIMATORS", "Estimator", "closed_form_relative_mse", "empirical_relative_mse", "pair"]


@dataclass(frozen=True)
class Estimator:
    """A feature kind with iid or block-orthogonal rows; ``optimal_gerf``: GERF with A* (FAVOR++)."""

    label: str
    kind: str
    orthogonal: bool
    optimal_gerf: bool = False


ESTIMATORS: tuple[Estimator, ...] = (
    Estimator("positive iid", "positive", False),
    Estimator("positive ORF", "positive", True),
    Estimator("trigonometric iid", "trigonometric", False),
    Estimator("trigonometric ORF", "trigonometric", True),
    Estimator("hyperbolic iid", "hyperbolic", False),
    Estimator("hyperbolic ORF", "hyperbolic", True),
    Estimator("FAVOR++ (GERF, A*) iid", "gerf", False, optimal_gerf=True),
)


def pair(d: int, *, norm: float, angle_degrees: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y ∈ ℝ^d (float64) with ‖x‖ = ‖y‖ = ``norm`` and the given angle between them."""
    theta = math.radians(angle_degrees)
    x, y = torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    x[0] = norm
    y[0], y[1] = norm * math.cos(theta), norm * math.sin(theta)
    return x, y


def _gerf_a(x: torch.Tensor, y: torch.Tensor, estimator: Estimator) -> float:
    """A* of MATH 23 for this one pair (ρ = s/d), or 0 when the estimator is not FAVOR++."""
    if not estimator.optimal_gerf:
        return 0.0
    return float(km.optimal_gerf_a(float((x + y).square().sum()) / x.numel()))


def closed_form_relative_mse(x: torch.Tensor, y: torch.Tensor, m: int, estimator: Estimator) -> float:
    """MSE/SM² from :mod:`favor_suite.reference.kernel_moments` (GERF: iid only, MATH 22)."""
    d = x.numel()
    if estimator.kind == "gerf":
        if estimator.orthogonal:
            raise ValueError("the GERF closed form (MATH 22) is for iid rows only")
        mse = km.mse_gerf_iid(x, y, _gerf_a(x, y, estimator), m)
    else:
        name = f"mse_{estimator.kind}_{'orf' if estimator.orthogonal else 'iid'}"
        mse = getattr(km, name)(x, y, m, d) if estimator.orthogonal else getattr(km, name)(x, y, m)
    return float(mse / km.softmax_kernel(x, y) ** 2)


def empirical_relative_mse(
    x: torch.Tensor, y: torch.Tensor, m: int, estimator: Estimator, *, replicates: int, seed: int
) -> tuple[float, float]:
    """Monte-Carlo MSE/SM² over ``replicates`` projections of m rows, and its standard error."""
    d = x.numel()
    if estimator.orthogonal and m % d:
        raise ValueError(f"ORF replicates need m to be a multiple of d = {d}, got m = {m}")
    generator = torch.Generator().manual_seed(seed)
    w = favor.draw_projection(
        replicates * m, d, generator=generator, orthogonal=estimator.orthogonal, dtype=torch.float64
    )
    a = _gerf_a(x, y, estimator)
    fx = favor.feature_map(x[None], w, kind=estimator.kind, gerf_a=a)[0]
    fy = favor.feature_map(y[None], w, kind=estimator.kind, gerf_a=a)[0]
    # The maps normalise by the total row count; a group of m rows needs 1/m, hence × replicates.
    estimates = (fx * fy).view(-1, replicates, m).sum(dim=(0, 2)) * replicates
    sm = float(km.softmax_kernel(x, y))
    squared = ((estimates - sm) / sm).square().numpy()
    return float(squared.mean()), float(squared.std(ddof=1) / np.sqrt(replicates))
