"""FAVOR++: generalized exponential random features (issue 7; MATH 21-23, [CRT]).

f(ω, x) = D·exp(A‖ω‖² + B ωᵀx − ‖x‖²/2), B = √(1−4A), D = (1−4A)^(d/4), admissible iff
1 − 8A > 0. Unbiased for every admissible A; one-feature second moment in closed form (MATH 22);
A* minimises it for the pair statistic ρ = s/d (MATH 23). Tolerances as in the kernel suite.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from favor_suite import budget, checks
from favor_suite import strategies as hh
from favor_suite.assertions import assert_close
from favor_suite.attention_cases import call, chunk_sizes, draw_problem, gaussian_projection, quadratic_on_same_features
from favor_suite.reference import kernel_moments as km
from favor_suite.reference.rounding import feature_error, unit_roundoff
from favor_suite.reference.softmax import scaled

ADMISSIBLE = st.floats(-0.5, 0.125, exclude_max=True)
"""Every admissible A (1 − 8A > 0) from −0.5 on: the estimator's variance is finite (MATH 22)."""
FOURTH_MOMENT = st.floats(-0.5, 0.0625, exclude_max=True)
"""A < 1/16: the estimator's fourth moment is finite (E[Y⁴] needs 1 − 16A > 0, MATH 36)."""


def _gerf(impl, x, w, a):
    return impl.feature_map(x, w, kind="gerf", gerf_a=a).double()


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "gerf")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data(), a=ADMISSIBLE)
def test_gerf_estimate_is_unbiased_for_any_admissible_a(impl, device, data, a):
    """E[f(ω,x)ᵀf(ω,y)] = SM(x, y) for every A with 1 − 8A > 0 (MATH 21), rows chosen for 2% power
    (``checks.kernel_mean``): a z-test with the exact MSE of MATH 22 where the Edgeworth check of
    its closed-form skewness and kurtosis allows it, else — heavy tails at large |A|d, or an
    infinite fourth moment for A ≥ 1/16 — the median of means, which needs the variance only."""
    pair = data.draw(hh.kernel_pairs(device=device, max_d=32), label="pair")
    alpha = budget.per_check(budget.TEST_ALPHA)
    checks.kernel_mean(impl, "gerf", pair.x, pair.y, orthogonal=False, gen=pair.gen, alpha=alpha, gerf_a=a)


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "gerf")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data(), a=FOURTH_MOMENT)
def test_gerf_variance_matches_the_closed_form(impl, device, data, a):
    """The empirical MSE of m-row estimates against MATH 22's (second moment − SM²)/m: a two-sided
    median-of-means test whose spread is the closed-form Var(T) (MATH 38, 39) and whose replicate
    count comes from the power computation (``checks.kernel_variance``). A ∈ [−0.5, 1/16): above 1/16 the
    fourth moment of the estimator is infinite (MATH 36), so no test of its variance has a
    stated false-alarm rate; that range is covered by the unbiasedness test, whose median of
    means needs only the (finite) variance."""
    pair = data.draw(hh.kernel_pairs(device=device, max_d=32), label="pair")
    m = data.draw(st.integers(16, 128), label="m")
    alpha = budget.per_check(budget.TEST_ALPHA)
    checks.kernel_variance(impl, "gerf", pair.x, pair.y, m, orthogonal=False, gen=pair.gen, alpha=alpha, gerf_a=a)


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "gerf")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_optimal_a_lowers_the_variance_by_the_predicted_factor(impl, device, data):
    """At A*(ρ), ρ = s/d (MATH 23), the GERF MSE equals its closed form, which is below the
    positive-feature MSE at the same m by the factor MATH 22-23 predict: d ∈ [2, 8], s ∈ [0.6, 1]
    give factors ≈ 0.6-0.9, and the ratio test is sized (replicates from the power computation)
    to reject an implementation without the gain — variance 1/factor times too large."""
    d = data.draw(st.integers(2, 8), label="d")
    s = data.draw(st.floats(0.6, 1.0), label="s")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    x, y = hh.pair_with_sum(d, s, gen, spread=0.0)
    a_star = float(km.optimal_gerf_a(s / d))
    m = 32
    factor = float(km.mse_gerf_iid(x, y, a_star, m) / km.mse_positive_iid(x, y, m))
    assert factor < 1, f"MATH 22-23 predict no gain at s = {s}, d = {d}: factor {factor}"
    alpha = budget.per_check(budget.TEST_ALPHA)
    checks.kernel_variance(
        impl, "gerf", x, y, m, orthogonal=False, gen=gen, alpha=alpha, gerf_a=a_star, variance_error=1 - factor
    )


@pytest.mark.requires("feature_map", "gerf", "feature:positive")
@given(data=st.data())
def test_a_zero_is_exactly_the_positive_feature_map(impl, device, data):
    """A = 0 gives B = 1, D = 1: f(ω, x) = φ⁺(x), to the float64 rounding of two computations of
    one feature each (``feature_error``): a log-feature's terms are ωᵀx, ‖x‖²/2, ½ln m and a
    stabilizer of at most their size, so their magnitudes sum to E ≤ 2(‖ω‖‖x‖ + ‖x‖²/2 + ½ln m)."""
    seq = data.draw(hh.sequences(device=device), label="inputs")
    m = data.draw(st.integers(1, 64), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed, device))
    positive = impl.feature_map(seq.q, w, kind="positive").double()
    norm = seq.q.double().norm(dim=-1).amax()
    exponent = 2 * float(w.norm(dim=-1).amax() * norm + norm**2 / 2 + 0.5 * math.log(m))
    rtol = 2 * feature_error(seq.q.shape[-1], exponent, unit_roundoff(torch.float64))
    assert_close(
        "GERF features at A = 0 vs positive features", _gerf(impl, seq.q, w, 0.0), positive, rtol=rtol, **seq.describe()
    )


@pytest.mark.severity("contract")
@pytest.mark.requires("feature_map", "gerf")
@pytest.mark.parametrize("a", [0.125, 0.2, math.inf, math.nan])
def test_inadmissible_a_is_rejected(impl, device, a):
    """1 − 8A ≤ 0 (or A not finite): the second moment is infinite, so a clear ValueError."""
    x = torch.zeros(2, 3, dtype=torch.float64, device=device)
    w = torch.ones(4, 3, dtype=torch.float64, device=device)
    with pytest.raises(ValueError, match=r"1 - 8A|A <|admissib"):
        impl.feature_map(x, w, kind="gerf", gerf_a=a)


@pytest.mark.requires("attention", "feature_map", "gerf")
@given(data=st.data())
def test_gerf_attention_equals_quadratic_and_stays_causal(impl, device, mode, data):
    """FAVOR++ attention equals the quadratic computation on its own features: with a fixed A
    (bidirectional or causal — the causal scan then leaks nothing, as every other feature map),
    and with A = "optimal" (bidirectional: A* from ρ of the whole sequence, MATH 23, recomputed
    here the naive O(L²) way). "optimal" with causal=True is refused."""
    causal = mode == "causal"
    optimal = not causal and data.draw(st.booleans(), label="optimal")
    seq, w = draw_problem(data, device)
    seq_q, seq_k = seq.q, seq.k
    a = "optimal" if optimal else data.draw(ADMISSIBLE, label="A")
    options = data.draw(chunk_sizes(impl), label="chunk") if causal else {}
    out = call(impl, seq_q, seq_k, seq.v, w, kind="gerf", causal=causal, gerf_a=a, **options)
    a_used = torch.as_tensor(km.optimal_gerf_a(km.mean_pair_rho(scaled(seq_q), scaled(seq_k)))) if optimal else a
    a_feat = a_used[..., None, None] if optimal else a
    expected, allowance = quadratic_on_same_features(
        impl, seq_q, seq_k, seq.v, w, kind="gerf", causal=causal, gerf_a=a_feat
    )
    assert_close(
        f"FAVOR++ attention (A = {a}) vs quadratic on the same features",
        out,
        expected,
        rtol=0.0,
        atol=allowance,
        causal=causal,
        **seq.describe(),
    )
    if causal:
        with pytest.raises(ValueError, match="causal"):
            call(impl, seq_q, seq_k, seq.v, w, kind="gerf", causal=True, gerf_a="optimal")
        cut = max(1, seq_q.shape[-2] // 2)
        k2 = seq_k.clone()
        k2[..., cut:, :] = k2[..., cut:, :] * 30 + 1
        changed = call(impl, seq_q, k2, seq.v, w, kind="gerf", causal=True, gerf_a=a, **options)
        assert_close(
            f"FAVOR++ causal outputs 0..{cut - 1} after changing keys ≥ {cut} (A = {a})",
            changed[..., :cut, :],
            out[..., :cut, :],
            rtol=0.0,
            atol=2 * allowance[..., :cut, :],
            **seq.describe(),
        )
