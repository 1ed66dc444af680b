"""Exact law of the random features (issue 3, property 3; MATH 2-4, 6, 24).

The projection here is a float64 iid Gaussian drawn by the suite, not by the implementation:
these properties isolate ``feature_map``. With n rows, each feature value is one iid sample,
so KS against the exact law with the DKWM bound has an exact false-alarm probability.

- positive: ln(n·φ_r(x)φ_r(y)) ~ N(−(‖x‖²+‖y‖²)/2, s), s = ‖x+y‖² (MATH 6).
- hyperbolic: the 2n values ln(2n·φ_i(x)φ_i(y)) are μ ± ω_rᵀ(x+y), μ = −(‖x‖²+‖y‖²)/2: their
  mean is exactly μ, and |value − μ| ~ |N(0, s)| (each |ω_rᵀz| appears twice, which leaves the
  empirical CDF of n iid samples unchanged). No assumption on the order of the features.
- trigonometric: Σ_i φ_i(x)² = e^{‖x‖²} exactly; the 2n values n·φ_i(x)²·e^{−‖x‖²} are
  {sin²g_r, cos²g_r}, g_r ~ N(0, ‖x‖²), whose empirical CDF is within the KS distance of the
  n iid sin²g_r of the symmetrized law ½[F(t) + 1 − F(1 − t)] (MATH 2).
Power: n = 4000 rows, DKWM ε(4000, 1e-10) ≈ 0.055.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from favor_suite import budget, checks
from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, assert_law, assert_shape
from favor_suite.reference.features import feature_width
from favor_suite.reference.rounding import exp_sum_bound, feature_error, unit_roundoff
from favor_suite.reference.statistics import sin_squared_cdf

ROWS = 4000


def _draw_pair(data, device):
    """A structured pair with s ≤ 1 and ROWS iid Gaussian projection rows drawn after it."""
    pair = data.draw(hh.kernel_pairs(device=device, max_d=128, s_range=(0.01, 1.0)), label="pair")
    w = torch.randn(ROWS, pair.d, generator=pair.gen, dtype=torch.float64, device=pair.gen.device)
    return pair.x, pair.y, w, pair.context


def _features(impl, x, y, w, kind):
    phi = impl.feature_map(torch.stack([x, y]), w, kind=kind).double()
    assert_shape(f"feature_map(kind={kind!r}) of 2 vectors, {ROWS} rows", phi.shape, (2, feature_width(kind, ROWS)))
    return phi


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "feature:positive")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_positive_log_features_are_gaussian(impl, device, data):
    """ln(n·φ⁺_r(x)φ⁺_r(y)) ~ N(−(‖x‖²+‖y‖²)/2, ‖x+y‖²) exactly (MATH 6)."""
    x, y, _, _ = _draw_pair(data, device)
    gen = hh.generator(data.draw(hh.seeds(), label="projection seed"), device)
    checks.positive_log_feature_law(impl, x, y, gen, budget.per_check(budget.TEST_ALPHA), rows=ROWS)


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "feature:hyperbolic")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_hyperbolic_log_features_are_symmetric_gaussian(impl, device, data):
    """Mean of ln(2n·φ_iφ_i) is exactly μ; |value − μ| ~ |N(0, s)| (MATH 4)."""
    x, y, w, ctx = _draw_pair(data, device)
    phi = _features(impl, x, y, w, "hyperbolic")
    logs = torch.log(2 * ROWS * phi[0] * phi[1])
    mu = -0.5 * float(x.square().sum() + y.square().sum())
    s = float((x + y).square().sum())
    rounding = checks.log_rounding(x, y, w, 2 * ROWS)
    assert_close(
        "mean of the 2n hyperbolic log-features (pairs μ ± ωᵀz)",
        logs.mean(),
        torch.tensor(mu, dtype=torch.float64),
        rtol=0.0,
        atol=rounding,
        **ctx,
    )
    if s == 0.0:
        assert_close(
            "hyperbolic log-features when x + y = 0 (a point mass)",
            logs,
            torch.full_like(logs, mu),
            rtol=0.0,
            atol=rounding,
            **ctx,
        )
        return
    half_normal = lambda t: 2 * stats.norm.cdf(np.maximum(t, 0.0) / math.sqrt(s)) - 1  # noqa: E731
    assert_law(
        "|ln(2n·φ_i(x)φ_i(y)) − μ| vs |N(0, s)|",
        (logs - mu).abs().cpu().numpy(),
        half_normal,
        budget.per_check(budget.TEST_ALPHA),
        rounding=rounding,
        s=s,
        **ctx,
    )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "feature:trigonometric")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_trigonometric_features_have_the_sin_squared_law(impl, device, data):
    """Σ_i φ_i(x)² = e^{‖x‖²} exactly, and n·φ_i(x)²e^{−‖x‖²} has the symmetrized sin² law."""
    x, y, w, ctx = _draw_pair(data, device)
    phi = _features(impl, x, y, w, "trigonometric")[0]
    x2 = float(x.square().sum())
    total = phi.square().sum()
    assert_close(
        "Σ_i φ_i(x)² (sin² + cos² = 1)",
        total,
        torch.tensor(math.exp(x2), dtype=torch.float64),
        rtol=exp_sum_bound(
            2 * ROWS + x.shape[-1], x2 + float(w.norm(dim=-1).amax()) * math.sqrt(x2), unit_roundoff(torch.float64)
        ),
        **ctx,
    )
    values = (ROWS * phi.square() * math.exp(-x2)).cpu().numpy()
    # n·φ_i² e^{−‖x‖²} ∈ [0, 1] is a square of a feature within feature_error, times exact factors.
    exponent = 2 * (float(w.norm(dim=-1).amax()) * math.sqrt(x2) + x2 / 2 + 0.5 * math.log(ROWS))
    rounding = 2 * feature_error(x.shape[-1], exponent, unit_roundoff(torch.float64)) + 4 * unit_roundoff(torch.float64)
    if x2 == 0.0:
        expected = torch.cat([torch.zeros(ROWS), torch.ones(ROWS)]).double()
        observed = torch.from_numpy(values).sort().values
        assert_close("n·φ_i(0)² (sin² 0 and cos² 0)", observed, expected, rtol=0.0, atol=rounding, **ctx)
        return
    sigma = math.sqrt(x2)

    def symmetrized(t: np.ndarray) -> np.ndarray:
        return 0.5 * (sin_squared_cdf(t, sigma) + 1.0 - sin_squared_cdf(1.0 - t, sigma))

    # The empirical CDF of the 2n values is the average of those of {sin²g} and {1 − sin²g}; its
    # KS distance to the symmetrized law is at most that of the n iid sin²g (module docstring).
    assert_law(
        "n·φ_i(x)²·e^{−‖x‖²} vs the symmetrized sin²(N(0, ‖x‖²)) law",
        values,
        symmetrized,
        budget.per_check(budget.TEST_ALPHA),
        effective_n=ROWS,
        rounding=rounding,
        **ctx,
    )
