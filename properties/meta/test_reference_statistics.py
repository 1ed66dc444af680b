"""``reference.statistics``: critical values, median of means and the Edgeworth tail inflation
against their exact laws (MATH 24-27, 39-40). Conventions: ``_reference_mc``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from favor_suite.assertions import assert_close
from favor_suite.meta._reference_mc import U64, assert_count, fail
from favor_suite.reference import rounding
from favor_suite.reference import statistics as st


@pytest.mark.parametrize("n", [20, 400])
def test_dkwm_epsilon_bounds_the_ks_exceedance_rate(n: int) -> None:
    """Over 2000 sets of n uniforms, sup|F_n − F| > dkwm_epsilon(n, 0.05) at rate ≤ 0.05 (MATH 24):
    the exceedance count is at most the Binomial(2000, 0.05) upper quantile at ALPHA. ks_distance
    agrees with scipy's KS statistic."""
    sets, level = 2000, 0.05
    x = np.sort(np.random.default_rng(30).random((sets, n)), axis=1)
    i = np.arange(1, n + 1)
    ks = np.maximum(i / n - x, x - (i - 1) / n).max(axis=1)
    assert_count(
        "KS exceedances of dkwm_epsilon", int((ks > st.dkwm_epsilon(n, level)).sum()), sets, level, at_most=True, n=n
    )
    assert_close(
        "ks_distance vs scipy.stats.kstest",
        torch.as_tensor(st.ks_distance(x[:3].T, lambda t: t)),
        torch.as_tensor([stats.kstest(row, "uniform").statistic for row in x[:3]]),
        rtol=0.0,
        atol=rounding.gamma(4, U64),  # both take max(i/n − F, F − (i−1)/n) of the same floats
    )


@pytest.mark.parametrize("sigma", [0.4, 1.0, 3.0])
def test_sin_squared_cdf(sigma: float) -> None:
    """Empirical P(sin²G ≤ t), G ~ N(0, σ²), against sin_squared_cdf at grid points: each count is
    Binomial(n, closed form) (exact bounds at ALPHA)."""
    n = 400_000
    sin2 = np.sin(np.random.default_rng(31).normal(0.0, sigma, n)) ** 2
    for t in (0.02, 0.2, 0.5, 0.8, 0.98):
        assert_count(
            f"#(sin²G ≤ {t}) vs sin_squared_cdf",
            int((sin2 <= t).sum()),
            n,
            float(st.sin_squared_cdf(np.array(t), sigma)),
            sigma=sigma,
        )


@pytest.mark.parametrize(("n", "level"), [(5, 0.05), (12, 0.01)])
def test_correlation_t_critical(n: int, level: float) -> None:
    """For n pairs of independent Gaussians, P(|r| > correlation_t_critical(n, α)) = α exactly:
    the count over 100000 replicates is Binomial(100000, α) (exact bounds at ALPHA)."""
    reps = 100_000
    x, y = np.random.default_rng(32).standard_normal((2, reps, n))
    x, y = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    r = (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))
    assert_count(
        "#(|r| > correlation_t_critical)",
        int((np.abs(r) > st.correlation_t_critical(n, level)).sum()),
        reps,
        level,
        n=n,
    )


@pytest.mark.parametrize("law", ["beta", "two_point"])
def test_bounded_mean_interval_covers_the_mean(law: str) -> None:
    """bounded_mean_interval at α = 0.05 misses the true mean of [−1, 3]-valued samples (n = 60) in at
    most a Binomial(1000, 0.05) upper-quantile count of 1000 sets, and lies inside [−1, 3]."""
    rng = np.random.default_rng(33)
    low, high, sets, level = -1.0, 3.0, 1000, 0.05
    if law == "beta":
        u, mean01 = rng.beta(2.0, 5.0, (sets, 60)), 2 / 7
    else:
        u, mean01 = (rng.random((sets, 60)) < 0.3).astype(float), 0.3
    x, truth = low + (high - low) * u, low + (high - low) * mean01
    intervals = np.array([st.bounded_mean_interval(row, low, high, level) for row in x])
    if not ((low <= intervals[:, 0]) & (intervals[:, 0] <= intervals[:, 1]) & (intervals[:, 1] <= high)).all():
        fail("bounded_mean_interval: an interval is not ordered inside [low, high]", law=law)
    misses = int(((truth < intervals[:, 0]) | (truth > intervals[:, 1])).sum())
    assert_count("bounded_mean_interval misses of the true mean", misses, sets, level, at_most=True, law=law)


# ---------------------------------------------------------------- median of means (MATH 39)
HEAVY_LAWS = {
    "lognormal": (lambda rng, size: rng.lognormal(0.0, 1.0, size), math.exp(0.5), math.sqrt((math.e - 1) * math.e)),
    "pareto_3": (lambda rng, size: 1 + rng.pareto(3.0, size), 1.5, math.sqrt(0.75)),
}
"""(sampler, mean, standard deviation): log-normal(0, 1) and Pareto(shape 3, scale 1) — finite
variance, infinite fourth (Pareto) or heavy (log-normal) higher moments."""


def test_mom_groups_is_the_smallest_odd_count() -> None:
    """mom_groups(α) is odd and the smallest odd k with exp(−k·KL(½ ‖ 1/c²)) ≤ α (MATH 39)."""
    exponent = -0.5 * math.log(4 / st.MOM_C**2 * (1 - 1 / st.MOM_C**2))
    for alpha in (0.3, 0.05, 1e-3, 1e-6, 1e-9):
        k = st.mom_groups(alpha)
        if not (k % 2 == 1 and math.exp(-k * exponent) <= alpha < math.exp(-(k - 2) * exponent)):
            fail(f"mom_groups({alpha}) = {k}: not the smallest odd k with exp(−k·{exponent:.4f}) ≤ α")


@pytest.mark.parametrize("law", list(HEAVY_LAWS))
def test_median_of_means_false_alarm_and_power(law: str) -> None:
    """At α = β = 0.05 over 20 000 trials each: |MoM − μ| > mom_threshold(σ, n, α) in at most a
    Binomial(20 000, 0.05) upper-quantile count (any law with variance σ², MATH 39); and with
    n = samples_for_mom(σ²/μ², 1, α, β) samples whose mean is shifted by μ (a relative bias of 1),
    the shift is missed in at most a Binomial(20 000, 0.05) upper-quantile count."""
    sample, mean, sd = HEAVY_LAWS[law]
    rng, trials, level = np.random.default_rng(34), 20_000, 0.05
    k = st.mom_groups(level)
    n = 25 * k
    threshold = st.mom_threshold(sd, n, level)
    mom = st.median_of_means(sample(rng, (n, trials)), k)
    assert_count(
        "median-of-means exceedances of mom_threshold",
        int((np.abs(mom - mean) > threshold).sum()),
        trials,
        level,
        at_most=True,
        law=law,
        n=n,
        groups=k,
    )
    n = st.samples_for_mom((sd / mean) ** 2, 1.0, level, level)
    shifted = st.median_of_means(sample(rng, (n, trials)) + mean, k)
    assert_count(
        "median-of-means misses of a 100 % shift",
        int((np.abs(shifted - mean) <= st.mom_threshold(sd, n, level)).sum()),
        trials,
        level,
        at_most=True,
        law=law,
        n=n,
    )


# ---------------------------------------------------------------- Edgeworth (MATH 40)
def _gamma_inflation(n: int, z: float) -> float:
    """Exact max(P(Z > z), P(Z < −z))/Φ̄(z) for the standardized mean of n iid Exp(1): the mean is
    Gamma(n, 1/n), Z = √n(mean − 1); skewness 2/√n, excess kurtosis 6/n."""
    law = stats.gamma(n, scale=1 / n)
    return max(law.sf(1 + z / math.sqrt(n)), law.cdf(1 - z / math.sqrt(n))) / stats.norm.sf(z)


@pytest.mark.parametrize("z", [2.0, 3.0, 4.0, 5.0])
def test_edgeworth_error_falls_as_n_to_the_minus_three_halves(z: float) -> None:
    """For means of n Exp(1) (exact Gamma tails): the Edgeworth series through its n⁻¹ terms leaves
    an error e(n) = c₃n^{−3/2} + c₄n^{−2} + …, so r(n) = e(n)/e(4n) = 8 + O(n^{−1/2}) and the
    deviations |r − 8| halve as n quadruples (MATH 40); a wrong n⁻¹ coefficient would leave
    e(n) ∝ n⁻¹ and r → 4. n = 4 000 … 256 000, where the inflation is ≤ 2 (well inside ≤ 10).
    Asserted: the deviations shrink by at least a factor 0.75 per step, and end below 0.5.
    With zero skewness and kurtosis the inflation is exactly 1."""
    sizes = [4_000, 16_000, 64_000, 256_000]
    errors = [_gamma_inflation(n, z) - float(st.edgeworth_tail_inflation(z, 2 / math.sqrt(n), 6 / n)) for n in sizes]
    deviations = [abs(errors[i] / errors[i + 1] - 8) for i in range(len(sizes) - 1)]
    if not (all(b <= 0.75 * a for a, b in itertools.pairwise(deviations)) and deviations[-1] < 0.5):
        fail(f"Edgeworth error ratios e(n)/e(4n) deviate from 8 by {deviations} at z = {z}", errors=errors)
    if float(st.edgeworth_tail_inflation(z, 0.0, 0.0)) != 1.0:
        fail(f"edgeworth_tail_inflation(z = {z}, 0, 0) is not 1")
