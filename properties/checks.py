"""The statistical core of the suite as plain functions: draw-free, so the property tests (which
draw the inputs with Hypothesis) and ``favor_suite.calibrate`` (which draws fresh seeds) run the
very same checks. Each raises :class:`~favor_suite.assertions.PropertyViolation` on rejection;
``alpha`` is the false-alarm probability of the whole call, split over its checks."""

from __future__ import annotations

import math

import torch
from favor_suite import budget
from favor_suite.assertions import assert_close, assert_law, assert_mean, assert_ratio, assert_shape
from favor_suite.implementation import Implementation
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import statistics as rs
from favor_suite.reference.rounding import exp_sum_bound, gamma, unit_roundoff
from favor_suite.sampling import kernel_estimates, projections
from scipy import stats

__all__ = [
    "exact_when_degenerate",
    "kernel_mean",
    "kernel_variance",
    "log_rounding",
    "positive_log_feature_law",
    "projection_law",
    "variance_ratio",
]


def log_rounding(values: torch.Tensor, d: int) -> float:
    """Absolute rounding allowance of float64 log-features ln(n·φ_r(x)φ_r(y)): each is a length-d dot
    product plus a few more terms (norms, log n, the stabilizer), all of size ≤ max|value|:
    γ_{d+8}·(1 + max|value|) (Higham Lemma 3.1)."""
    return gamma(d + 8, unit_roundoff(torch.float64)) * (1 + float(values.abs().max()))


def _rows_tested(m: int) -> list[int]:
    """The first row (most exposed to QR sign bias), the last, and one from the middle."""
    return sorted({0, m - 1, min(m - 1, m // 2)})


def projection_law(
    impl: Implementation,
    m: int,
    d: int,
    *,
    orthogonal: bool,
    norms: str,
    gen: torch.Generator,
    alpha: float,
    calls: int = 400,
) -> None:
    """e_kᵀω_r ~ N(0, 1) along every axis and ‖ω_r‖ ~ χ_d for a few rows, over ``calls``
    independent projections: KS with the DKWM bound, exact α (MATH 10, 24)."""
    w = projections(impl, calls, m, d, orthogonal=orthogonal, norms=norms, gen=gen)
    assert_shape("sample_projection(m, d)", w.shape[1:], (m, d), m=m, d=d)
    rows = _rows_tested(m)
    coords = w[:, rows, :].reshape(calls, -1).cpu().numpy()
    assert_law(
        f"coordinates e_kᵀω_r of rows {rows} along all {d} axes vs N(0, 1)",
        coords,
        stats.norm.cdf,
        alpha / 2 / coords.shape[1],
        m=m,
        d=d,
        orthogonal=orthogonal,
    )
    radii = w[:, rows, :].norm(dim=-1).cpu().numpy()
    assert_law(
        f"norms ‖ω_r‖ of rows {rows} vs χ_{d}",
        radii,
        stats.chi(d).cdf,
        alpha / 2 / len(rows),
        m=m,
        d=d,
        orthogonal=orthogonal,
    )


def positive_log_feature_law(
    impl: Implementation, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, alpha: float, rows: int = 4000
) -> None:
    """ln(n·φ⁺_r(x)φ⁺_r(y)) ~ N(−(‖x‖²+‖y‖²)/2, s) exactly for n iid Gaussian rows (MATH 6)."""
    w = torch.randn(rows, x.shape[-1], generator=gen, dtype=torch.float64, device=gen.device)
    phi = impl.feature_map(torch.stack([x, y]), w, kind="positive").double()
    assert_shape(f"feature_map(kind='positive') of 2 vectors, {rows} rows", phi.shape, (2, rows))
    logs = torch.log(rows * phi[0] * phi[1])
    mu = -0.5 * float(x.square().sum() + y.square().sum())
    s = float((x + y).square().sum())
    if s < 1e-24:
        assert_close(
            "log-features when x + y = 0 (a point mass)",
            logs,
            torch.full_like(logs, mu),
            rtol=0.0,
            atol=log_rounding(logs, x.shape[-1]),
        )
        return
    assert_law(
        "ln(n·φ_r(x)φ_r(y)) vs N(−(‖x‖²+‖y‖²)/2, s)", logs.cpu().numpy(), stats.norm(mu, math.sqrt(s)).cdf, alpha, s=s
    )


def exact_when_degenerate(
    what: str, estimates: torch.Tensor, sm: float, mse: float, x: torch.Tensor, y: torch.Tensor, rows: int
) -> bool:
    """A zero closed-form MSE means every estimate equals SM (x + y = 0, or x = y for trig), to the
    rounding of a sum of 2·rows exp-features (``favor_suite.reference.rounding.exp_sum_bound``)."""
    if mse > 1e-30 * sm * sm:
        return False
    exponent = float(x.square().sum() + y.square().sum()) + math.log(2 * rows)
    rtol = exp_sum_bound(2 * rows + x.shape[-1], exponent, unit_roundoff(torch.float64))
    assert_close(f"{what} with zero closed-form variance", estimates, torch.full_like(estimates, sm), rtol=rtol)
    return True


def kernel_mean(
    impl: Implementation,
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    orthogonal: bool,
    gen: torch.Generator,
    alpha: float,
) -> None:
    """E[φ(x)ᵀφ(y)] = SM(x, y) (MATH 5): one projection of M rows, M chosen so that a relative
    bias of ``budget.TARGET_RELATIVE_BIAS`` fails with probability ≥ 1 − β; z-test with the exact
    MSE (MATH 7-9, 12) at α/10 (MATH 25)."""
    d = x.shape[-1]
    sm = float(km.softmax_kernel(x, y))
    rel_var_one = float(km.kernel_mse(kind, x, y, 1, d, orthogonal=False)) / sm**2
    needed = rs.samples_for_relative_bias(rel_var_one, budget.TARGET_RELATIVE_BIAS, alpha, budget.POWER_BETA)
    rows = min(budget.MAX_ROWS, max(d, needed))
    w = projections(impl, 1, rows, d, orthogonal=orthogonal, norms="chi", gen=gen)
    estimate = kernel_estimates(impl, x, y, w, kind=kind)
    mse = float(km.kernel_mse(kind, x, y, rows, d, orthogonal=orthogonal))
    what = f"{kind} kernel estimate, {'orthogonal' if orthogonal else 'iid'}, M = {rows}"
    if not exact_when_degenerate(what, estimate, sm, mse, x, y, rows):
        assert_mean(f"{what} vs SM(x, y)", estimate, sm, mse, alpha, s=float((x + y).square().sum()), d=d)


def variance_ratio(estimates: torch.Tensor, sm: float, mse: float) -> tuple[float, float]:
    """r̂ = mean((X − SM)²)/MSE and its standard error, studentized from the replicates (MATH 27)."""
    sq = ((estimates - sm) ** 2).cpu().numpy()
    return float(sq.mean() / mse), float(sq.std(ddof=1) / math.sqrt(sq.size) / mse)


def kernel_variance(
    impl: Implementation,
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    m: int,
    *,
    orthogonal: bool,
    gen: torch.Generator,
    alpha: float,
    replicates: int = 2000,
) -> None:
    """Over independent projections of m rows: the replicate mean z-tested against SM, and the
    empirical MSE against the closed form (MATH 7-9, 12) by a two-sided ratio test (MATH 27)."""
    d = x.shape[-1]
    w = projections(impl, replicates, m, d, orthogonal=orthogonal, norms="chi", gen=gen)
    estimates = kernel_estimates(impl, x, y, w, kind=kind)
    sm = float(km.softmax_kernel(x, y))
    mse = float(km.kernel_mse(kind, x, y, m, d, orthogonal=orthogonal))
    what = f"{kind} kernel estimate, {'orthogonal' if orthogonal else 'iid'}, m = {m}"
    if exact_when_degenerate(what, estimates, sm, mse, x, y, m):
        return
    assert_mean(f"{what}: replicate mean vs SM", estimates, sm, mse, alpha / 2, d=d)
    ratio, sd = variance_ratio(estimates, sm, mse)
    assert_ratio(f"{what}: empirical MSE / closed-form MSE", ratio, sd, alpha / 2, m=m, d=d, closed_form=mse)
