"""The statistical core of the suite as plain functions: draw-free, so the property tests (which
draw the inputs with Hypothesis) and ``favor_suite.calibrate`` (which draws fresh seeds) run the
very same checks. Each raises :class:`~favor_suite.assertions.PropertyViolation` on rejection;
``alpha`` is the false-alarm probability of the whole call, split over its checks.

Two tests of a mean with a closed-form variance (MATH 25, 39, 40):

* the z-test at α/``HEAVY_TAIL_SAFETY``, used where the Edgeworth expansion, from the closed-form
  skewness and kurtosis of the estimate, puts the tail inflation at most ``EDGEWORTH_LIMIT``;
* the median of means otherwise (heavy tails, or a moment that does not exist): distribution-free
  given the exact variance, at the price of more samples.

Every estimate computed by the implementation carries its float64 rounding error; the allowance
``estimate_rounding`` is added to the statistical bound, so an estimator whose variance is tiny
or zero (x + y = 0) is held to rounding, not to a spread it cannot have.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from favor_suite import budget
from favor_suite.assertions import assert_law, assert_shape, fail
from favor_suite.implementation import Implementation, precision_of
from favor_suite.reference import estimator_moments as em
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import statistics as rs
from favor_suite.reference.features import feature_width
from favor_suite.reference.rounding import feature_error, gamma, unit_roundoff
from favor_suite.sampling import projection_source, projections

__all__ = [
    "EDGEWORTH_LIMIT",
    "estimate_rounding",
    "kernel_estimates",
    "kernel_mean",
    "kernel_variance",
    "log_rounding",
    "mean_test",
    "positive_log_feature_law",
    "projection_law",
    "variance_test",
]

EDGEWORTH_LIMIT = rs.HEAVY_TAIL_SAFETY / 2
"""The z-test runs at α/HEAVY_TAIL_SAFETY, so a tail inflated by up to HEAVY_TAIL_SAFETY keeps its
false-alarm rate ≤ α. The one-term Edgeworth inflation is optimistic in the far tail of
right-skewed laws by up to 2.2× where it reports ≤ 10 (MATH 40, measured on Gamma means, the
family the kernel estimators' tails resemble); demanding a reported inflation ≤ 10/2 leaves that
margin."""


# ---------------------------------------------------------------- estimates and their rounding
def _exponent(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, gerf_a: float | None) -> float:
    """Sum of the magnitudes of the terms of the log-features of x and y: |ω|(‖x‖ + ‖y‖), the norms,
    ln(2F), for GERF |A|·‖ω‖² and the log of D — doubled for a stabilizer subtracted and added
    back, which is at most as large as the terms it stabilizes."""
    radius = float(w.norm(dim=-1).amax())
    total = radius * float(x.norm() + y.norm()) + 0.5 * float(x.square().sum() + y.square().sum())
    total += math.log(2 * feature_width("hyperbolic", w.shape[-2]))
    if gerf_a is not None:
        total += abs(gerf_a) * radius**2 + 0.25 * x.shape[-1] * abs(math.log1p(-4 * gerf_a))
    return 2 * total


def estimate_rounding(impl: Implementation, x, y, w, magnitude, *, kind: str, gerf_a: float | None = None):
    """Rounding allowance of Â = Σ_f φ_f(x)φ_f(y) computed in float64 from ``feature_map``: each
    product of two features within 2·feature_error + γ_2, the sum of F products within γ_F,
    against ``magnitude`` = Σ_f |φ_f(x)φ_f(y)| (MATH "Rounding allowances")."""
    u = unit_roundoff(precision_of(impl, torch.float64).products)
    width = feature_width(kind, w.shape[-2])
    epsilon = 2 * feature_error(x.shape[-1], _exponent(x, y, w, gerf_a), u) + gamma(width + 2, u)
    return epsilon * magnitude


def kernel_estimates(
    impl: Implementation, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, *, kind: str, gerf_a=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``([calls], [calls])``: Â = φ(x)ᵀφ(y) for each projection ``w[c]`` (one ``feature_map`` call
    each) and its rounding allowance."""
    options = {} if gerf_a is None else {"gerf_a": gerf_a}
    pair = torch.stack([x, y])
    estimates, magnitudes = [], []
    for proj in w:
        phi = impl.feature_map(pair, proj, kind=kind, **options).double()
        estimates.append((phi[0] * phi[1]).sum())
        magnitudes.append((phi[0] * phi[1]).abs().sum())
    rounding = estimate_rounding(impl, x, y, w[0], torch.stack(magnitudes), kind=kind, gerf_a=gerf_a)
    return torch.stack(estimates), rounding


def log_rounding(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, rows: int) -> float:
    """Absolute rounding allowance of float64 log-features ln(n·φ_r(x)φ_r(y)): each log-feature is a
    sum of d + 3 terms (ωᵀx, −‖x‖²/2, −½ln n, a stabilizer) of magnitudes summing to at most
    E_x = |ω_r|‖x‖ + ‖x‖²/2 + ½ln n + (a stabilizer of the same size), so within γ_{d+4}(1 + E_x)
    (``feature_error``) — the ln n term included; adding ln n, two products and the log add 4u."""
    u = unit_roundoff(torch.float64)
    radius = float(w.norm(dim=-1).amax())
    half_log = 0.5 * math.log(rows)
    e_x = 2 * (radius * float(x.norm()) + 0.5 * float(x.square().sum()) + half_log)
    e_y = 2 * (radius * float(y.norm()) + 0.5 * float(y.square().sum()) + half_log)
    return feature_error(x.shape[-1], e_x, u) + feature_error(y.shape[-1], e_y, u) + 4 * u


# ---------------------------------------------------------------- mean and variance tests
def _moments(kind: str, x, y, rows: int, gerf_a) -> tuple[float, float] | None:
    """(skewness, excess kurtosis) of the iid rows-mean, None where the fourth moment is infinite.
    Where the variance underflows the estimator is a point mass to float64 precision: its test is
    held to rounding alone, whatever the test, and (0, 0) is returned."""
    try:
        var, mu3, mu4 = (float(v) for v in em.estimator_central_moments(kind, x, y, rows, gerf_a=gerf_a))
    except ValueError:
        return None
    sd = math.sqrt(var)
    if sd == 0.0 or sd**4 == 0.0:
        return 0.0, 0.0
    return mu3 / sd**3, mu4 / sd**4 - 3


def mean_test(
    what: str,
    estimates: torch.Tensor,
    rounding: torch.Tensor,
    expected: float,
    variance: float,
    alpha: float,
    *,
    mom: bool,
    **context: object,
) -> None:
    """|mean − expected| within the statistical bound plus the largest rounding allowance.

    ``mom=False``: the z-test on the mean of the estimates, |z| ≤ z_test_critical(α), each estimate
    of closed-form ``variance`` (MATH 25). ``mom=True``: the median of the estimates as group means
    (one estimate = one group), |MoM − expected| ≤ MOM_C·√variance, distribution-free (MATH 39).
    Every estimate must be finite; where the closed-form variance overflows float64 (GERF as
    A → 1/8) that is all that can be asserted.
    """
    x = estimates.detach().double().cpu().numpy()
    if not np.isfinite(x).all():
        fail(f"{what}: {int((~np.isfinite(x)).sum())} of {x.size} estimates are not finite", **context)
    slack = float(rounding.max())
    sd = math.sqrt(max(variance, 0.0))
    if mom:
        centre = float(np.median(x))
        bound = rs.MOM_C * sd + slack
        test = f"median of {x.size} estimates (median of means, MATH 39)"
    else:
        centre = float(x.mean())
        bound = rs.z_test_critical(alpha) * sd / math.sqrt(x.size) + slack
        test = f"mean of {x.size} estimates (z-test at α/{rs.HEAVY_TAIL_SAFETY:g})"
    if not abs(centre - expected) <= bound:
        rel = (centre - expected) / expected if expected else float("nan")
        fail(
            f"{what}: {test} {centre:.6g} vs expected {expected:.6g} (relative {rel:+.3%}), "
            f"|difference| {abs(centre - expected):.3g} > {bound:.3g} allowed at α = {alpha:.1e}"
            + (" (zero closed-form variance: rounding only)" if sd == 0 else ""),
            sd_of_one_estimate=sd,
            rounding=slack,
            **context,
        )


def variance_test(
    what: str,
    estimates: torch.Tensor,
    rounding: torch.Tensor,
    expected: float,
    mse: float,
    ratio_variance: float | None,
    alpha: float,
    **context: object,
) -> None:
    """Two-sided test of mean((X − SM)²) = MSE (MATH 27) on T = (X − SM)²/MSE. Where Var(T) has a
    closed form (iid kinds and GERF, MATH 38): the median of means of T with that variance, which
    holds whatever T's tail (MATH 39) — T is a square of a heavy-tailed estimate, its skewness needs
    moments of order six no closed form here gives, so no Edgeworth check can license a z-test
    (a GERF with A = −0.5 put a z-test's mean of T at 27.8 against a band ending at 22). Otherwise
    (orthogonal rows): a z-test at α/HEAVY_TAIL_SAFETY, studentized from the replicates. Rounding
    |e| ≤ r of each X widens the band to [(√(MSE − t) − r)₊², (√(MSE + t) + r)²], t the statistical
    half-width (|X_true − SM + e| ≤ |X_true − SM| + r)."""
    x = estimates.detach().double().cpu().numpy()
    squares = (x - expected) ** 2
    r = float(rounding.max())
    if ratio_variance is not None and math.isfinite(ratio_variance):
        groups = rs.mom_groups(alpha)
        observed = float(rs.median_of_means(squares, groups))
        half_width = rs.mom_threshold(math.sqrt(ratio_variance) * mse, squares.size, alpha)
        method = f"median of {groups} means (MATH 39), closed-form spread"
    else:  # no closed-form fourth moment (orthogonal rows), or one beyond float64
        observed = float(squares.mean())
        z = rs.z_test_critical(alpha)
        half_width = z * float(squares.std(ddof=1)) / math.sqrt(squares.size)
        method = f"z = {z:.2f}, studentized spread"
    low = max(math.sqrt(max(mse - half_width, 0.0)) - r, 0.0) ** 2
    high = (math.sqrt(mse + half_width) + r) ** 2
    if not low <= observed <= high:
        fail(
            f"{what}: empirical MSE / closed-form MSE: ratio {observed / mse if mse else math.inf:.4f}, "
            f"outside [{low / mse if mse else 0:.4f}, {high / mse if mse else math.inf:.4f}] "
            f"({method}, α = {alpha:.1e}, rounding {r:.2g})",
            closed_form_mse=mse,
            replicates=squares.size,
            **context,
        )


# ---------------------------------------------------------------- the checks
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
    """ln(n·φ⁺_r(x)φ⁺_r(y)) ~ N(−(‖x‖²+‖y‖²)/2, s) exactly for n iid Gaussian rows (MATH 6); a
    point mass when s = 0, held to ``log_rounding``."""
    w = torch.randn(rows, x.shape[-1], generator=gen, dtype=torch.float64, device=gen.device)
    phi = impl.feature_map(torch.stack([x, y]), w, kind="positive").double()
    assert_shape(f"feature_map(kind='positive') of 2 vectors, {rows} rows", phi.shape, (2, rows))
    logs = torch.log(rows * phi[0] * phi[1])
    mu = -0.5 * float(x.square().sum() + y.square().sum())
    s = float((x + y).square().sum())
    slack = log_rounding(x, y, w, rows)
    if s == 0.0:
        worst = float((logs - mu).abs().max())
        if not worst <= slack:
            fail(f"log-features when x + y = 0 (a point mass): max error {worst:.3e} exceeds {slack:.3e}", rows=rows)
        return
    assert_law(
        "ln(n·φ_r(x)φ_r(y)) vs N(−(‖x‖²+‖y‖²)/2, s)",
        logs.cpu().numpy(),
        stats.norm(mu, math.sqrt(s)).cdf,
        alpha,
        rounding=slack,
        s=s,
    )


def _estimator_mse(kind: str, x, y, m: int, d: int, *, orthogonal: bool, gerf_a: float | None) -> float:
    if kind == "gerf":
        return float(km.mse_gerf_iid(x, y, gerf_a, m))
    return float(km.kernel_mse(kind, x, y, m, d, orthogonal=orthogonal))


def kernel_mean(
    impl: Implementation,
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    orthogonal: bool,
    gen: torch.Generator,
    alpha: float,
    gerf_a: float | None = None,
) -> None:
    """E[φ(x)ᵀφ(y)] = SM(x, y) (MATH 5, 21). Rows are chosen so that a relative bias of
    ``budget.TARGET_RELATIVE_BIAS`` fails with probability ≥ 1 − β (capped at ``budget.MAX_ROWS``).
    Where the Edgeworth inflation of the z-test (from the closed-form skewness and kurtosis of the
    iid estimator, MATH 38, 40) is at most ``EDGEWORTH_LIMIT``: one projection, z-test with the
    exact MSE (MATH 7-9, 12, 22). Otherwise, or where the fourth moment is infinite (GERF with
    A ≥ 1/16): median of means over k independent projections (MATH 39)."""
    d = x.shape[-1]
    sm = float(km.softmax_kernel(x, y))
    rel_var = _estimator_mse(kind, x, y, 1, d, orthogonal=False, gerf_a=gerf_a) / sm**2
    target = budget.TARGET_RELATIVE_BIAS
    rows = min(budget.MAX_ROWS, max(d, rs.samples_for_relative_bias(rel_var, target, alpha, budget.POWER_BETA)))
    moments = _moments(kind, x, y, rows, gerf_a)
    z = rs.z_test_critical(alpha)
    mom = moments is None or float(rs.edgeworth_tail_inflation(z, *moments)) > EDGEWORTH_LIMIT
    source = projection_source(impl, orthogonal=orthogonal)
    if mom:
        groups = rs.mom_groups(alpha)
        rows = min(budget.MAX_ROWS, max(d * groups, rs.samples_for_mom(rel_var, target, alpha, budget.POWER_BETA)))
        calls, rows = groups, max(d, rows // groups)
    else:
        calls = 1
    w = projections(impl, calls, rows, d, orthogonal=orthogonal, norms="chi", gen=gen)
    estimates, rounding = kernel_estimates(impl, x, y, w, kind=kind, gerf_a=gerf_a)
    mse = _estimator_mse(kind, x, y, rows, d, orthogonal=orthogonal, gerf_a=gerf_a)
    law = "orthogonal" if orthogonal else "iid"
    a_text = "" if gerf_a is None else f", A = {gerf_a:.4f}"
    if mom:
        multiple = rs.mom_power_multiple(alpha, budget.POWER_BETA)
    else:
        multiple = rs.z_test_critical(alpha) + float(stats.norm.isf(budget.POWER_BETA))
    detectable = multiple * math.sqrt(mse) / sm
    mean_test(
        f"{kind} kernel estimate{a_text}, {law}, {calls} × {rows} rows, vs SM(x, y)",
        estimates,
        rounding,
        sm,
        mse,
        alpha,
        mom=mom,
        s=float((x + y).square().sum()),
        d=d,
        projections=source,
        detectable_relative_bias=f"{detectable:.3%}",
    )


def _batched_estimates(impl, x, y, w, m: int, *, kind: str, gerf_a):
    """Replicate estimates from ONE feature_map call on R·m iid rows: consecutive groups of m
    per-row products (one feature per row: positive, GERF), each rescaled from the call's 1/(R·m)
    to 1/m. Rows are iid, so any grouping gives R iid replicates of the m-row estimator."""
    options = {} if gerf_a is None else {"gerf_a": gerf_a}
    phi = impl.feature_map(torch.stack([x, y]), w, kind=kind, **options).double()
    assert_shape(f"feature_map(kind={kind!r}) of 2 vectors, {w.shape[0]} rows", phi.shape, (2, w.shape[0]))
    products = (phi[0] * phi[1]).reshape(-1, m) * (w.shape[0] / m)
    rounding = estimate_rounding(impl, x, y, w[:m], products.abs().sum(-1), kind=kind, gerf_a=gerf_a)
    return products.sum(-1), rounding


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
    gerf_a: float | None = None,
    variance_error: float = budget.TARGET_VARIANCE_ERROR,
) -> None:
    """Over R independent m-row estimates: the replicate mean against SM (z-test, exact MSE) and
    the empirical MSE against the closed form (MATH 7-9, 12, 22, 32-33) by a two-sided ratio test
    (MATH 27, 38), both with the rounding allowance of each estimate.

    iid rows with one feature per row (positive, GERF) are drawn in one call and grouped; R then
    comes from the power computation of the median of means (``samples_for_mom``) — a variance off
    by ``variance_error`` relative is caught with probability ≥ 1 − β — capped at MAX_ROWS/m.
    Otherwise R = ``replicates`` projections, one call each (orthogonal: studentized spread, no
    fourth moment in closed form). GERF needs A < 1/16 here: Var(T) holds the fourth moment."""
    d = x.shape[-1]
    sm = float(km.softmax_kernel(x, y))
    mse = _estimator_mse(kind, x, y, m, d, orthogonal=orthogonal, gerf_a=gerf_a)
    ratio_variance = None if orthogonal else float(em.mse_ratio_variance(kind, x, y, m, gerf_a=gerf_a))
    if kind in ("positive", "gerf") and not orthogonal:
        needed = rs.samples_for_mom(ratio_variance, variance_error, alpha / 2, budget.POWER_BETA)
        replicates = max(rs.mom_groups(alpha / 2), min(needed, budget.MAX_ROWS // m))
        w = projections(impl, 1, replicates * m, d, orthogonal=False, norms="chi", gen=gen)[0]
        estimates, rounding = _batched_estimates(impl, x, y, w, m, kind=kind, gerf_a=gerf_a)
    else:
        w = projections(impl, replicates, m, d, orthogonal=orthogonal, norms="chi", gen=gen)
        estimates, rounding = kernel_estimates(impl, x, y, w, kind=kind, gerf_a=gerf_a)
    a_text = "" if gerf_a is None else f", A = {gerf_a:.4f}"
    what = f"{kind} kernel estimate{a_text}, {'orthogonal' if orthogonal else 'iid'}, m = {m}"
    context = dict(d=d, s=float((x + y).square().sum()), projections=projection_source(impl, orthogonal=orthogonal))
    mean_test(f"{what}: replicate mean vs SM", estimates, rounding, sm, mse, alpha / 2, mom=False, **context)
    if mse == 0.0:
        return
    variance_test(what, estimates, rounding, sm, mse, ratio_variance, alpha / 2, m=m, **context)
