"""Critical values, power and exact laws for the suite's statistical tests (MATH 24-28).

Every tolerance in ``properties/`` is one of these functions of a stated false-alarm
probability α and a closed-form variance from :mod:`reference.kernel_moments`.
Sources: Dvoretzky-Kiefer-Wolfowitz-Massart inequality (Massart 1990); TensorFlow Probability
``statistical_testing`` (the DKWM bracket of a bounded mean); MATH.md §7.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = [
    "HEAVY_TAIL_SAFETY",
    "bounded_mean_interval",
    "correlation_t_critical",
    "detectable_relative_bias",
    "dkwm_epsilon",
    "ks_distance",
    "normal_critical",
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


def ks_distance(samples: np.ndarray, cdf) -> np.ndarray:
    """sup_x |F_n(x) − F(x)| per column of ``samples`` ``[n, ...]`` (iid down the first axis)
    against a continuous CDF applied elementwise; a scalar for 1-D samples."""
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    n = x.shape[0]
    f = np.asarray(cdf(x), dtype=np.float64)
    i = np.arange(1, n + 1).reshape((n,) + (1,) * (x.ndim - 1))
    return np.maximum(i / n - f, f - (i - 1) / n).max(axis=0)


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
    return math.ceil(z * z * relative_variance / bias**2)


def detectable_relative_bias(relative_variance: float, n: int, alpha: float, beta: float) -> float:
    """The smallest relative bias a z-test with n replicates detects with probability ≥ 1 − β."""
    z = z_test_critical(alpha) + float(stats.norm.isf(beta))
    return z * math.sqrt(relative_variance / n)


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
