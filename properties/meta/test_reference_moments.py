"""Higher moments of the kernel estimators — ``reference.estimator_moments`` and the GERF closed forms
of ``reference.kernel_moments`` — against seeded Monte Carlo and 60-digit arithmetic
(MATH 21-23, 27, 36-38). Conventions: ``_reference_mc``."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch
from scipy import optimize

from favor_suite.assertions import assert_close
from favor_suite.meta._reference_mc import F64, U64, assert_mc, assert_relative, fail, gen, pair
from favor_suite.reference import estimator_moments as em
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import projections as rp
from favor_suite.reference import rounding

ROWS = 399_999
CASES = [("positive", None), ("hyperbolic", None), ("trigonometric", None), ("gerf", -0.2), ("gerf", 0.02)]
"""GERF at A = 0.02 < 1/32 keeps E[Y⁸] — which the standard error of the fourth moment needs — finite."""


def _rows(kind: str, a: float | None, x: np.ndarray, y: np.ndarray, w: torch.Tensor) -> np.ndarray:
    """One-row estimates Y of SM(x, y) for each ω in w ``[n, d]`` (``estimator_moments`` docstring)."""
    xt, yt = torch.as_tensor(x, dtype=F64), torch.as_tensor(y, dtype=F64)
    half = float(xt @ xt + yt @ yt) / 2
    if kind == "positive":
        return torch.exp(w @ (xt + yt) - half).numpy()
    if kind == "hyperbolic":
        return (math.exp(-half) * torch.cosh(w @ (xt + yt))).numpy()
    if kind == "trigonometric":
        return (math.exp(half) * torch.cos(w @ (xt - yt))).numpy()
    d = w.shape[-1]
    log_d = d / 2 * math.log1p(-4 * a)
    return torch.exp(log_d + 2 * a * w.square().sum(-1) + math.sqrt(1 - 4 * a) * (w @ (xt + yt)) - half).numpy()


@pytest.mark.parametrize(("kind", "a"), CASES)
def test_row_and_estimator_moments(kind: str, a: float | None) -> None:
    """One row: E[Y^p] = row_raw_moment for p = 1..4 (MATH 36) and E[(Y − SM)^k] = row_central_moments
    (MATH 37); the mean X of m = 3 rows: E[(X − SM)^k] = estimator_central_moments and, with
    T = (X − SM)²/MSE, E[(T − 1)²] = mse_ratio_variance (MATH 38). s = 0.2, ‖Δ‖² = 0.6, d = 4."""
    d, m = 4, 3
    x, y = pair(d, 0.2, 0.6, seed=40)
    ys = _rows(kind, a, x, y, rp.iid_gaussian(ROWS, d, gen(41)))
    sm = float(km.softmax_kernel(x, y))
    ctx = dict(kind=kind, gerf_a=a)
    for p in (1, 2, 3, 4):
        raw = float(em.row_raw_moment(kind, x, y, p, gerf_a=a))
        assert_mc(f"E[Y^{p}] vs row_raw_moment", ys**p, raw, heavy_tailed=True, **ctx)
    for k, central in zip((2, 3, 4), em.row_central_moments(kind, x, y, gerf_a=a), strict=True):
        assert_mc(f"E[(Y − SM)^{k}] vs row_central_moments", (ys - sm) ** k, float(central), heavy_tailed=True, **ctx)
    means = ys.reshape(-1, m).mean(-1)
    for k, central in zip((2, 3, 4), em.estimator_central_moments(kind, x, y, m, gerf_a=a), strict=True):
        assert_mc(
            f"E[(X − SM)^{k}], X the mean of {m} rows, vs estimator_central_moments",
            (means - sm) ** k,
            float(central),
            heavy_tailed=True,
            **ctx,
        )
    t = (means - sm) ** 2 / float(
        km.kernel_mse(kind, x, y, m, d, orthogonal=False) if a is None else km.mse_gerf_iid(x, y, a, m)
    )
    assert_mc(
        "E[(T − 1)²] vs mse_ratio_variance",
        (t - 1) ** 2,
        float(em.mse_ratio_variance(kind, x, y, m, gerf_a=a)),
        heavy_tailed=True,
        **ctx,
    )


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_gerf_moment_existence(p: int) -> None:
    """E[Y^p] of GERF is finite iff A < 1/(4p) (MATH 36): refused at A = 1/(4p) with the condition
    named; finite just below."""
    x, y = pair(3, 0.4, 0.4, seed=42)
    with pytest.raises(ValueError, match=rf"1 - {4 * p}A > 0"):
        em.row_raw_moment("gerf", x, y, p, gerf_a=1 / (4 * p))
    if not np.isfinite(em.row_raw_moment("gerf", x, y, p, gerf_a=0.99 / (4 * p))):
        fail(f"GERF E[Y^{p}] not finite at A = 0.99/(4p)")


def _exact_central(kind: str, a: float | None, c: float, d: int) -> tuple[list[Decimal], list[Decimal]]:
    """(μ₂, μ₃, μ₄) of Y from the raw moments (MATH 36) and Σ|summands| of MATH 37's forms for them,
    at 110 digits (the raw differences cancel ~4·|log₁₀ s| ≤ 48 digits), for x = c·e₁, y = c·e₂
    (s = ‖Δ‖² = 2c², ‖x‖² = ‖y‖² = c², exact in float64 for c a power of 2). The summands are
    evaluated from D_k = Δᵏℓ_0, ℓ_j = ln(E[Y^j]/E[Y]^j), independently of the implementation."""
    with localcontext() as ctx:
        ctx.prec = 110
        s, half = 2 * Decimal(c) ** 2, Decimal(c) ** 2
        if kind == "gerf":
            al = 4 * Decimal(a)
            raw = [
                (
                    (p * d * (1 - al).ln() - d * (1 - p * al).ln()) / 2
                    + p * p * (1 - al) * s / (2 * (1 - p * al))
                    - p * half
                ).exp()
                for p in range(5)
            ]
        elif kind == "positive":
            raw = [(p * p * s / 2 - p * half).exp() for p in range(5)]
        else:
            sign = 1 if kind == "hyperbolic" else -1
            raw = [
                (-sign * p * half).exp()
                * sum(math.comb(p, k) * (sign * (p - 2 * k) ** 2 * s / 2).exp() for k in range(p + 1))
                / 2**p
                for p in range(5)
            ]
        mean = raw[1]
        central = [sum(math.comb(k, j) * raw[j] * (-mean) ** (k - j) for j in range(k + 1)) for k in (2, 3, 4)]
        if kind != "gerf":
            return central, [abs(mu) for mu in central]
        ell = [(raw[j] / mean**j).ln() for j in range(5)]
        d2, d3, d4 = ell[2], ell[3] - 3 * ell[2], ell[4] - 4 * ell[3] + 6 * ell[2]
        t, e2, e3 = d2.exp(), d2.exp() - 1, d3.exp() - 1

        def phi(u: Decimal) -> Decimal:
            return u.exp() - 1 - u

        third = [t**3 * e3, e2 * e2 * (t + 2)]
        fourth = [e2 * e2 * (t**4 + 2 * t**3 + 3 * t**2 - 3), 4 * t**3 * e3 * (t**3 - 1), t**6 * d4]
        fourth += [t**6 * phi(4 * d3 + d4), 4 * t**6 * phi(d3)]
        sizes = [abs(central[0]), sum(abs(p) for p in third) * mean**3, sum(abs(p) for p in fourth) * mean**4]
        return central, sizes


@pytest.mark.parametrize(
    ("kind", "a"),
    [("positive", None), ("hyperbolic", None), ("trigonometric", None), ("gerf", 2.0**-10), ("gerf", -(2.0**-10))],
)
@pytest.mark.parametrize("c", [2.0**-20, 2.0**-12, 2.0**-6, 0.5])
def test_central_moments_where_raw_differences_cancel(kind: str, a: float | None, c: float) -> None:
    """row_central_moments against exact differences of raw moments, s = 2c² from 2⁻³⁹ to ½, where
    the float64 differences lose up to every digit: |μ̂_k − μ_k| ≤ γ₃₂·Σ|summands of MATH 37|. Each
    summand takes ≤ 16 roundings (libm counted as 2u, the D_k included); for positive, hyperbolic
    and trigonometric the summands are positive, so the bound is γ₃₂ relative; for GERF
    (A = ±2⁻¹⁰) the sum mixes signs and the bound is γ₃₂ times its condition number."""
    d = 4
    x, y = np.zeros(d), np.zeros(d)
    x[0], y[1] = c, c
    got = em.row_central_moments(kind, x, y, gerf_a=a)
    exact, sizes = _exact_central(kind, a, c, d)
    for k, value, truth, size in zip((2, 3, 4), got, exact, sizes, strict=True):
        assert_relative(
            f"{kind} μ_{k} vs exact raw differences",
            float(value),
            float(truth),
            rounding.gamma(32, U64) * float(size / abs(truth)),
            c=c,
            gerf_a=a,
        )


# ---------------------------------------------------------------- variance tests (MATH 27)
@pytest.mark.parametrize(("s", "m"), [(0.1, 1), (0.1, 4), (0.05, 16)])
def test_lognormal_kurtosis_gives_the_variance_of_the_mse_ratio(s: float, m: int) -> None:
    """With t = (φ(x)ᵀφ(y) − SM)²/MSE(pos), E[(t − 1)²] = 2 + κ/m exactly for m iid features (the
    fourth central moment of a mean), hence Var r̂ = (2 + κ/m)/N (MATH 27); κ from
    lognormal_excess_kurtosis. At m = 1 this is the empirical kurtosis of the log-normal (MATH 6)."""
    x, y = pair(2, s, 0.5, seed=9)
    ys = _rows("positive", None, x, y, rp.iid_gaussian(1_000_000 // m * m, 2, gen(16)))
    t = (ys.reshape(-1, m).mean(-1) - math.exp(float(x @ y))) ** 2 / float(km.mse_positive_iid(x, y, m))
    assert_mc(
        "E[(t − 1)²] vs 2 + lognormal_excess_kurtosis/m",
        (t - 1) ** 2,
        2 + float(km.lognormal_excess_kurtosis(s)) / m,
        heavy_tailed=True,
        s=s,
        m=m,
    )


# ---------------------------------------------------------------- GERF (MATH 21-23)
@pytest.mark.parametrize("a", [-0.5, -0.15, 0.0, 0.02])
def test_gerf_moments(a: float) -> None:
    """f(ω,x) = D·exp(A‖ω‖² + Bωᵀx − ‖x‖²/2): E[f f] = SM (MATH 21), E[(f f)²] = gerf_second_moment and
    the m-feature MSE = mse_gerf_iid (MATH 22). A ≤ 0.02 keeps the eighth moment the se needs finite."""
    d, m = 4, 4
    x, y = pair(d, 0.5, 0.5, seed=10)
    sm = math.exp(float(x @ y))
    p = _rows("gerf", a, x, y, rp.iid_gaussian(800_000 // d, d, gen(17)))
    assert_mc("GERF one-feature mean vs SM", p, sm, heavy_tailed=True, a=a)
    assert_mc(
        "GERF E[(f f)²] vs gerf_second_moment", p**2, float(km.gerf_second_moment(x, y, a)), heavy_tailed=True, a=a
    )
    assert_mc(
        "GERF m-feature MSE vs mse_gerf_iid",
        (p.reshape(-1, m).mean(-1) - sm) ** 2,
        float(km.mse_gerf_iid(x, y, a, m)),
        heavy_tailed=True,
        a=a,
        m=m,
    )


def test_gerf_at_a_zero_is_the_positive_mse() -> None:
    """mse_gerf_iid(A = 0) = mse_positive_iid (MATH 21: A = 0 is φ⁺): at A = 0, D₂ = s exactly and
    both are SM²·expm1(s)/m, the same three roundings in another order: γ₄. An inadmissible A is
    refused, naming the condition."""
    for s in (1e-9, 0.1, 1.0, 3.0):
        x, y = pair(6, s, 0.9, seed=11)
        assert_close(
            "mse_gerf_iid(A = 0) vs mse_positive_iid",
            torch.as_tensor(km.mse_gerf_iid(x, y, 0.0, 8)),
            torch.as_tensor(km.mse_positive_iid(x, y, 8)),
            rtol=rounding.gamma(4, U64),
            s=s,
        )
    with pytest.raises(ValueError, match="1 - 8A"):
        km.gerf_second_moment(x, y, 0.125)


def _relative_gerf_variance(a: float, s: float, d: int) -> float:
    """Closed-form one-feature variance of GERF over SM², via ``gerf_second_moment`` (MATH 22)."""
    x, y = pair(d, s, 0.3, 0)
    return float(km.gerf_second_moment(x, y, a) / km.softmax_kernel(x, y) ** 2 - 1)


@pytest.mark.parametrize(("s", "d"), [(0.5, 4), (2.76, 8), (6.0, 16), (1.0, 64), (0.01, 2)])
def test_optimal_gerf_a_minimises_the_closed_form_variance(s: float, d: int) -> None:
    """optimal_gerf_a(s/d) is the minimiser over admissible A of the relative variance of MATH 22:
    no grid point beats it, and a bounded scalar minimiser lands on it (MATH 23)."""
    a_star = float(km.optimal_gerf_a(s / d))
    best = _relative_gerf_variance(a_star, s, d)
    grid = np.linspace(-2.0, 0.124, 425)
    with np.errstate(over="ignore"):  # near A = 1/8 the variance is +inf, never the minimum
        values = np.array([_relative_gerf_variance(float(a), s, d) for a in grid])
    slack = rounding.gamma(64, U64) * (1 + best) * (1 + 2 * s + d)
    if not best <= values.min() + slack:
        fail(
            f"optimal_gerf_a = {a_star:.6f} gives {best:.6g}, grid A = {grid[values.argmin()]:.4f} gives "
            f"{values.min():.6g} (s = {s}, d = {d})"
        )
    found = optimize.minimize_scalar(
        lambda a: _relative_gerf_variance(a, s, d), bounds=(-2.0, 0.124), method="bounded", options={"xatol": 1e-10}
    ).x
    if not abs(found - a_star) <= 1e-4 * (1 + abs(a_star)):
        fail(f"numerical minimiser A = {found:.8f} vs optimal_gerf_a = {a_star:.8f} (s = {s}, d = {d})")


def test_optimal_gerf_a_math_23_example() -> None:
    """s = 2.76, d = 8: relative variance e^s − 1 = 14.80 at A = 0 and 5.36 at A* (MATH 23)."""
    s, d = 2.76, 8
    at_zero = _relative_gerf_variance(0.0, s, d)
    at_star = _relative_gerf_variance(float(km.optimal_gerf_a(s / d)), s, d)
    if not (round(at_zero, 2) == 14.80 and round(at_star, 2) == 5.36):
        fail(
            f"relative GERF variance at s = 2.76, d = 8: {at_zero:.4f} (A = 0), {at_star:.4f} (A*); "
            f"expected 14.80 and 5.36"
        )
