"""Critical values, power and exact laws for the suite's statistical tests (MATH 24-28, 39-40).

Every tolerance in ``properties/`` is one of these functions of a stated false-alarm
probability α and a closed-form variance from :mod:`favor_suite.reference.kernel_moments`.
Sources: Dvoretzky-Kiefer-Wolfowitz-Massart inequality (Massart 1990); TensorFlow Probability
``statistical_testing`` (the DKWM bracket of a bounded mean); the median-of-means bound (Chebyshev
per group, Chernoff-Hoeffding over groups; Lugosi & Mendelson 2019); the Edgeworth expansion
(Hall 1992, §2.2); MATH §7.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import stats

__all__ = [
    "HEAVY_TAIL_SAFETY",
    "MOM_C",
    "binomial_upper",
    "bounded_mean_interval",
    "correlation_t_critical",
    "detectable_relative_bias",
    "dkwm_epsilon",
    "edgeworth_tail_inflation",
    "ks_distance",
    "median_of_means",
    "mom_groups",
    "mom_power_multiple",
    "mom_threshold",
    "normal_critical",
    "samples_for_mom",
    "samples_for_relative_bias",
    "sin_squared_cdf",
    "z_test_critical",
]

HEAVY_TAIL_SAFETY = 10.0
"""A z-test on means of log-normal-tailed kernel estimates runs at α/10: at s ≤ 1 the measured
false-alarm rate of a nominal-α z-test was ≤ 1.65α, and ≤ 6α at s = 4 (MATH 25)."""


def normal_critical(alpha: float) -> float:
    """z with P(|N(0,1)| > z) = α."""
    return float(stats.norm.isf(alpha / 2))


def z_test_critical(alpha: float) -> float:
    """Two-sided critical |z| for a kernel-mean z-test of false-alarm probability α: the normal
    critical value at α / HEAVY_TAIL_SAFETY (MATH 25)."""
    return normal_critical(alpha / HEAVY_TAIL_SAFETY)


def dkwm_epsilon(n: int, alpha: float) -> float:
    """ε(n, α) = √(ln(2/α)/(2n)): P(sup|F_n − F| > ε) ≤ α for n iid draws, any continuous F
    (MATH 24). Exact, distribution-free, no asymptotics."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def ks_distance(samples: np.ndarray, cdf, rounding: float = 0.0) -> np.ndarray:
    """sup_x |F_n(x) − F(x)| per column of ``samples`` ``[n, ...]`` (iid down the first axis)
    against a continuous CDF applied elementwise; a scalar for 1-D samples. With ``rounding`` δ > 0
    the samples may each be off by δ, and the distance is taken to the band [F(t − δ), F(t + δ)]:
    max(i/n − F(x_(i) + δ), F(x_(i) − δ) − (i − 1)/n) (MATH 24)."""
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    n = x.shape[0]
    i = np.arange(1, n + 1).reshape((n,) + (1,) * (x.ndim - 1))
    upper = np.asarray(cdf(x + rounding), dtype=np.float64)
    lower = np.asarray(cdf(x - rounding), dtype=np.float64) if rounding else upper
    return np.maximum(i / n - upper, lower - (i - 1) / n).max(axis=0)


def sin_squared_cdf(t: np.ndarray, sigma: float, terms: int = 8) -> np.ndarray:
    """P(sin²G ≤ t), G ~ N(0, σ²): G lies within asin(√t) of a multiple of π,
    Σ_k Φ((a + kπ)/σ) − Φ((−a + kπ)/σ), a = asin(√t). Omitted |k| > terms weigh < Φ(−(terms−1)π/σ)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    a = np.arcsin(np.sqrt(t))[None, ...]
    k = np.arange(-terms, terms + 1).reshape((-1,) + (1,) * t.ndim) * np.pi
    return np.clip((stats.norm.cdf((a + k) / sigma) - stats.norm.cdf((-a + k) / sigma)).sum(0), 0.0, 1.0)


def samples_for_relative_bias(relative_variance: float, bias: float, alpha: float, beta: float) -> int:
    """N ≥ (z_{1−α′/2} + z_{1−β})²·v/b²: replicates for a kernel-mean z-test at false-alarm α
    (α′ = α/HEAVY_TAIL_SAFETY) to detect relative bias b with probability 1 − β, v the relative
    variance of one replicate (MATH 25)."""
    z = z_test_critical(alpha) + float(stats.norm.isf(beta))
    return _count(z * z * relative_variance / bias**2)


def _count(needed: float) -> int:
    """⌈needed⌉, or sys.maxsize — more than any budget — where it overflows (a variance near a
    pole of its closed form, e.g. GERF as A → 1/8)."""
    return math.ceil(needed) if math.isfinite(needed) else sys.maxsize


def detectable_relative_bias(relative_variance: float, n: int, alpha: float, beta: float) -> float:
    """The smallest relative bias a z-test with n replicates detects with probability ≥ 1 − β."""
    z = z_test_critical(alpha) + float(stats.norm.isf(beta))
    return z * math.sqrt(relative_variance / n)


def binomial_upper(trials: int, rate: float, alpha: float) -> int:
    """The largest count a Binomial(trials, rate) exceeds with probability ≤ α: a simulated rate
    (of false alarms, of misses) is consistent with being ≤ ``rate`` while its count is at most this."""
    return int(stats.binom(trials, rate).isf(alpha))


def correlation_t_critical(n: int, alpha: float) -> float:
    """|r| bound for the sample correlation of n pairs of *independent* Gaussians:
    t = r√(n−2)/√(1−r²) ~ t_{n−2} exactly, so |r| ≤ t_c/√(n−2+t_c²) with probability 1 − α."""
    t = float(stats.t.isf(alpha / 2, n - 2))
    return t / math.sqrt(n - 2 + t * t)


def bounded_mean_interval(samples: np.ndarray, low: float, high: float, alpha: float) -> tuple[float, float]:
    """Distribution-free (1 − α) interval for the mean of iid samples in [low, high], from the
    DKWM band on their CDF (the method of TFP's ``true_mean_confidence_interval_by_dkwm``)."""
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size
    eps = dkwm_epsilon(n, alpha)
    grid = np.concatenate([[low], x, [high]])
    widths = np.diff(grid)
    ecdf = np.arange(n + 1) / n
    upper_cdf = np.clip(ecdf + eps, 0.0, 1.0)
    lower_cdf = np.clip(ecdf - eps, 0.0, 1.0)
    # mean = high − ∫ F: a larger CDF gives a smaller mean.
    return float(high - (widths * upper_cdf).sum()), float(high - (widths * lower_cdf).sum())


# ---------------------------------------------------------------- median of means (MATH 39)
MOM_C = 3.0
"""Chebyshev multiple c of a group mean's standard deviation. The threshold² per sample is
c²·σ²·k/n with k ≈ ln(1/α)/KL(½‖1/c²) groups, so c minimises c²/KL(½‖1/c²): the minimiser is
c ≈ 2.89 (value 19.34); c = 3 gives 19.38, within 0.3 % (MATH 39)."""


def _kl_half(p: float) -> float:
    """KL(½ ‖ p) = −½·ln(4p(1 − p)), the Chernoff exponent of Binomial(k, p) reaching k/2."""
    return -0.5 * math.log(4 * p * (1 - p))


def mom_groups(alpha: float, c: float = MOM_C) -> int:
    """k, the smallest odd integer with exp(−k·KL(½ ‖ 1/c²)) ≤ α (MATH 39): a group mean leaves
    μ ± c·σ_group with probability ≤ 1/c² (Chebyshev); the median of k group means leaves it only
    if ≥ k/2 groups do, probability ≤ exp(−k·KL(½ ‖ 1/c²)) (Chernoff-Hoeffding)."""
    if not c > math.sqrt(2):
        raise ValueError(f"c must exceed √2 (so that 1/c² < ½), got {c}")
    k = math.ceil(math.log(1 / alpha) / _kl_half(1 / c**2))
    return k + (k % 2 == 0)


def mom_threshold(sigma: float, n: int, alpha: float) -> float:
    """t = c·σ/√⌊n/k⌋, k = mom_groups(α): P(|MoM − μ| > t) ≤ α for n iid samples of standard
    deviation σ, whatever their law (MATH 39). c = MOM_C."""
    size = n // mom_groups(alpha)
    if size < 1:
        raise ValueError(f"{n} samples cannot fill {mom_groups(alpha)} groups")
    return MOM_C * sigma / math.sqrt(size)


def median_of_means(samples: np.ndarray, groups: int) -> np.ndarray:
    """Median over ``groups`` consecutive groups of ⌊n/groups⌋ samples of the group means;
    samples ``[n, ...]`` iid down the first axis, the last n mod groups unused. Returns ``[...]``."""
    x = np.asarray(samples, dtype=np.float64)
    size = x.shape[0] // groups
    if size < 1:
        raise ValueError(f"{x.shape[0]} samples cannot fill {groups} groups")
    means = x[: groups * size].reshape(groups, size, *x.shape[1:]).mean(axis=1)
    return np.median(means, axis=0)


def mom_power_multiple(alpha: float, beta: float) -> float:
    """c + c_β: a median of means at false-alarm α (k = mom_groups(α) groups) detects a shift of
    (c + c_β)·σ_group with probability ≥ 1 − β, where exp(−k·KL(½ ‖ 1/c_β²)) = β (MATH 39)."""
    k = mom_groups(alpha)
    p_beta = (1 - math.sqrt(1 - beta ** (2 / k))) / 2
    return MOM_C + 1 / math.sqrt(p_beta)


def samples_for_mom(relative_variance: float, bias: float, alpha: float, beta: float) -> int:
    """n = k·⌈(c + c_β)²·v/b²⌉ samples for a median-of-means test at false-alarm α (threshold
    ``mom_threshold``) to detect a relative shift b of the mean with probability ≥ 1 − β; v = σ²/μ²
    (MATH 39). With the same k groups the MoM strays beyond c_β·σ/√(n/k) from the shifted mean with
    probability ≤ exp(−k·KL(½ ‖ 1/c_β²)) = β, so a shift ≥ (c + c_β)σ/√(n/k) is detected; at β = α
    c_β = c: a shift of twice the threshold."""
    return min(
        sys.maxsize, mom_groups(alpha) * _count(mom_power_multiple(alpha, beta) ** 2 * relative_variance / bias**2)
    )


# ---------------------------------------------------------------- Edgeworth (MATH 40)
def edgeworth_tail_inflation(z: object, skewness: object, excess_kurtosis: object) -> np.ndarray:
    """max(P(Z > z), P(Z < −z))/Φ̄(z) for a standardized mean Z by the Edgeworth expansion through
    its n⁻¹ terms (MATH 40): with γ₁, γ₂ the skewness and excess kurtosis *of the mean*,

        P(Z > ±z) ≈ Φ̄(z) + φ(z)[±γ₁He₂(z)/6 + γ₂He₃(z)/24 + γ₁²He₅(z)/72],

    He₂ = z² − 1, He₃ = z³ − 3z, He₅ = z⁵ − 10z³ + 15z; the worse side has |γ₁He₂|. A two-sided
    test at level α has false-alarm rate ≤ α × this inflation (to the expansion's accuracy, which
    is O(n^{−3/2}) and *optimistic* in far tails of right-skewed laws, MATH 40)."""
    z = np.asarray(z, dtype=np.float64)
    g1, g2 = np.asarray(skewness, dtype=np.float64), np.asarray(excess_kurtosis, dtype=np.float64)
    he2, he3, he5 = z * z - 1, z**3 - 3 * z, z**5 - 10 * z**3 + 15 * z
    hazard = np.exp(stats.norm.logpdf(z) - stats.norm.logsf(z))  # φ/Φ̄, stable in the far tail
    return 1 + hazard * (np.abs(g1 * he2) / 6 + g2 * he3 / 24 + g1 * g1 * he5 / 72)
