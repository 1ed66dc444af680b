"""Closed-form means and mean squared errors of the random-feature kernel estimators.

Vectors are array-likes ``[..., d]`` (numpy or torch); results are float64 numpy arrays.
Notation (MATH.md): s = ‖x+y‖², Δ = x − y, Λ = exp(−(‖x‖²+‖y‖²)/2), M = ₁F₁ (Kummer),
m = number of projection rows ω_r, d = dimension.
Sources: [P] Choromanski et al. 2021 (Lemma 2, Theorem 1-2); [CRT] Likhosherstov et al. 2022.
The ORF and fixed-norm MSEs are summed as exact-coefficient series (``orf_series``, MATH 32-35);
higher moments of the same estimators live in ``estimator_moments`` (MATH 36-38).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import hyp0f1, hyp1f1

from favor_suite.reference.orf_series import orf_series
from favor_suite.reference.projections import same_block_pairs

__all__ = [
    "fixed_norm_mean",
    "fixed_norm_relative_bias",
    "gerf_log_ratio",
    "gerf_second_moment",
    "kernel_mse",
    "lognormal_excess_kurtosis",
    "mean_pair_rho",
    "mse_gerf_iid",
    "mse_hyperbolic_iid",
    "mse_hyperbolic_orf",
    "mse_positive_iid",
    "mse_positive_orf",
    "mse_positive_orf_fixed",
    "mse_trigonometric_iid",
    "mse_trigonometric_orf",
    "optimal_gerf_a",
    "orf_cross_moment",
    "same_block_pairs",
    "softmax_kernel",
]


def _np(x: object) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _parts(x: object, y: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(‖x‖², ‖y‖², s = ‖x+y‖², ‖x−y‖²)."""
    x, y = _np(x), _np(y)
    return (x * x).sum(-1), (y * y).sum(-1), ((x + y) ** 2).sum(-1), ((x - y) ** 2).sum(-1)


def softmax_kernel(x: object, y: object) -> np.ndarray:
    """SM(x, y) = exp(xᵀy), the mean of every unbiased estimator. (MATH 1, 5)"""
    return np.exp((_np(x) * _np(y)).sum(-1))


def mse_positive_iid(x: object, y: object, m: int) -> np.ndarray:
    """MSE(pos) = (1/m)·SM²·(e^s − 1). (MATH 8, [P Lemma 2])"""
    _, _, s, _ = _parts(x, y)
    return softmax_kernel(x, y) ** 2 * np.expm1(s) / m


def mse_hyperbolic_iid(x: object, y: object, m: int) -> np.ndarray:
    """MSE(hyp) = ½(1 − e^{−s})·MSE(pos), with m vectors (2m features). (MATH 9, [P Lemma 2])"""
    _, _, s, _ = _parts(x, y)
    return 0.5 * -np.expm1(-s) * mse_positive_iid(x, y, m)


def mse_trigonometric_iid(x: object, y: object, m: int) -> np.ndarray:
    """MSE(trig) = (1/2m)·exp(‖x‖²+‖y‖²)·(1 − e^{−‖Δ‖²})². (MATH 7, [P Lemma 2])"""
    x2, y2, _, delta2 = _parts(x, y)
    return np.exp(x2 + y2) * np.expm1(-delta2) ** 2 / (2 * m)


def orf_cross_moment(a2: object, d: int) -> np.ndarray:
    """E[exp(ω_rᵀa)·exp(ω_r′ᵀa)] = M(d, d/2, ‖a‖²/2) for r ≠ r′ in one block, χ_d norms and
    Haar directions (for iid rows it is e^{‖a‖²}); at −‖a‖² it is E[cos((ω_r + ω_r′)ᵀa)].
    **(derived)**, MATH 11: ω_r + ω_r′ = R·v with R² ~ χ²_{2d} independent of a uniform unit v."""
    return hyp1f1(d, d / 2, _np(a2) / 2)


def mse_positive_orf(x: object, y: object, m: int, d: int) -> np.ndarray:
    """MSE(ort, pos) = (Λ²/m²)·Σ_{n≥1}[m(2ⁿ − 1) − P(1 − r_n)]·sⁿ/n!, r_n = Π_{k<n}(d+k)/(d+2k):
    MATH 12's MSE(pos) + (P/m²)Λ²[M(d, d/2, s/2) − e^s] as one series with coefficients ≥ 0
    (MATH 32), so it is 0 exactly iff s = 0 and accurate to a few ulps. **(derived)**"""
    x2, y2, s, _ = _parts(x, y)
    return np.exp(-(x2 + y2)) * orf_series("positive", s, m, d) / m**2


def mse_hyperbolic_orf(x: object, y: object, m: int, d: int) -> np.ndarray:
    """MSE(ort, hyp) = (Λ²/m²)·Σ_{n≥2}[m(2ⁿ⁻¹ − 1) − P(1 − r_n)]·sⁿ/n! **(derived)**, MATH 12, 32.

    The hyperbolic estimator is (Λ/m)·Σ_r cosh(ω_rᵀz). For a same-block pair,
    E[cosh(ω_rᵀz)cosh(ω_r′ᵀz)] = ½(E[e^{ω_rᵀz}e^{ω_r′ᵀz}] + E[e^{ω_rᵀz}e^{−ω_r′ᵀz}]) and
    (ω_r, −ω_r′) has the law of (ω_r, ω_r′), so both terms equal M(d, d/2, s/2) (MATH 11): the
    same-block correction of the positive case, added to MSE(hyp) = (Λ²/2m)(e^s − 1)².
    """
    x2, y2, s, _ = _parts(x, y)
    return np.exp(-(x2 + y2)) * orf_series("hyperbolic", s, m, d) / m**2


def mse_trigonometric_orf(x: object, y: object, m: int, d: int) -> np.ndarray:
    """MSE(ort, trig) = e^{‖x‖²+‖y‖²}[(1−e^{−δ})²/(2m) + (P/m²)(M(d, d/2, −δ/2) − e^{−δ})], δ = ‖x−y‖²
    (MATH 12) = (SM²/m²)·Σ_{n≥2} f_n δⁿ/n!, f_n = m[n even] + P·Σ_j C(n,j)(−1)^j r_j: the alternating
    series in −δ multiplied by e^{δ}e^{−δ} (MATH 33), well conditioned for every δ. **(derived)**"""
    x, y = _np(x), _np(y)
    delta2 = ((x - y) ** 2).sum(-1)
    return np.exp(2 * (x * y).sum(-1)) * orf_series("trigonometric", delta2, m, d) / m**2


def fixed_norm_mean(x: object, y: object, d: int) -> np.ndarray:
    """SMREG = Λ·₀F₁(; d/2; d·s/4): the mean of the positive estimator when every ‖ω_r‖ = √d.
    (MATH 13, [P Thm 1, eq. 29-31]) Uses E[exp(t·uᵀz)] = ₀F₁(; d/2; t²‖z‖²/4), u uniform."""
    x2, y2, s, _ = _parts(x, y)
    return np.exp(-(x2 + y2) / 2) * hyp0f1(d / 2, d * s / 4)


def fixed_norm_relative_bias(s: object, d: int) -> np.ndarray:
    """SMREG/SM − 1 = e^{−w}·₀F₁(; d/2; d·w/2) − 1 with w = s/2 (≈ −w²/(d+2)). (MATH 13)"""
    w = _np(s) / 2
    return np.exp(-w) * hyp0f1(d / 2, d * w / 2) - 1


def mse_positive_orf_fixed(x: object, y: object, m: int, d: int) -> np.ndarray:
    """Variance of the positive ORF estimator with fixed norms √d, about its mean SMREG.
    **(derived)**, MATH 13, 35: with Y_r = Λ·exp(√d·u_rᵀz) and F = ₀F₁(; d/2; ·), E[Y_r²] = Λ²F(d·s);
    for a same-block pair (u_r + u_r′)/√2 is uniform on the sphere, so E[Y_rY_r′] = Λ²F(d·s/2);
    rows of different blocks are independent. m²·Var/Λ² = m(F(ds) − F(ds/4)²) + P(F(ds/2) − F(ds/4)²),
    summed as one series in w = d·s/4 with exact coefficients ≥ 0 (MATH 35)."""
    x2, y2, s, _ = _parts(x, y)
    return np.exp(-(x2 + y2)) * orf_series("positive_fixed", d * s / 4, m, d) / m**2


def lognormal_excess_kurtosis(s: object) -> np.ndarray:
    """κ = e^{4s} + 2e^{3s} + 3e^{2s} − 6, the excess kurtosis of one positive-feature product
    (log-normal with log-variance s, MATH 6). (MATH 27)"""
    s = _np(s)
    return np.exp(4 * s) + 2 * np.exp(3 * s) + 3 * np.exp(2 * s) - 6


def _gerf_check(a: float, p: int) -> None:
    """E[Y^p] of the GERF pair product is finite iff 1 − 4pA > 0 (MATH 36)."""
    if not 1 - 4 * p * a > 0:
        raise ValueError(f"GERF E[Y^{p}] is finite only for 1 - {4 * p}A > 0 (A < {1 / (4 * p):.6g}), got A = {a}")


def gerf_second_moment(x: object, y: object, a: float) -> np.ndarray:
    """E[(f(ω,x)f(ω,y))²] = (1−4A)^d (1−8A)^(−d/2) exp(2(1−4A)s/(1−8A) − ‖x‖² − ‖y‖²), finite iff
    1 − 8A > 0. (MATH 22, [CRT]; the p = 2 case of MATH 36)"""
    _gerf_check(a, 2)
    x2, y2, s, _ = _parts(x, y)
    d = _np(x).shape[-1]
    log = d * math.log1p(-4 * a) - d / 2 * math.log1p(-8 * a) + 2 * (1 - 4 * a) * s / (1 - 8 * a) - x2 - y2
    return np.exp(log)


def gerf_log_ratio(x: object, y: object, a: float) -> np.ndarray:
    """D₂ = ln(E[(f f)²]/SM²) = −(d/2)·log1p(−α²/(1−α)²) + s/(1 − 2α), α = 4A: the log of MATH 22
    over SM², with the O(A) terms cancelled analytically (MATH 37), so it is accurate to rounding
    and 0 exactly iff A = 0 and s = 0."""
    _gerf_check(a, 2)
    _, _, s, _ = _parts(x, y)
    d, alpha = _np(x).shape[-1], 4 * a
    return -d / 2 * math.log1p(-(alpha**2) / (1 - alpha) ** 2) + s / (1 - 2 * alpha)


def mse_gerf_iid(x: object, y: object, a: float, m: int) -> np.ndarray:
    """MSE of the GERF estimator with m iid features: (second moment − SM²)/m = SM²·expm1(D₂)/m
    (MATH 22, 37), without the cancellation of the difference at small s and A."""
    with np.errstate(over="ignore"):  # +inf: a variance beyond float64, next to the pole A = 1/8
        return softmax_kernel(x, y) ** 2 * np.expm1(gerf_log_ratio(x, y, a)) / m


def optimal_gerf_a(rho: object) -> np.ndarray:
    """A* = (1/16)(1 − 2ρ − √((2ρ+1)² + 8ρ)), ρ = s/d. (MATH 23, [CRT])"""
    rho = _np(rho)
    return (1 - 2 * rho - np.sqrt((2 * rho + 1) ** 2 + 8 * rho)) / 16


def kernel_mse(kind: str, x: object, y: object, m: int, d: int, *, orthogonal: bool) -> np.ndarray:
    """MSE of φ(x)ᵀφ(y) for feature ``kind`` with m projection rows, iid or block-orthogonal with
    χ_d norms (MATH 7-9, 12, 32-33). The estimator is unbiased in every case, so MSE = variance;
    every form is 0 exactly iff the estimator is deterministic (s = 0; trigonometric: x = y)."""
    table = {
        ("positive", False): lambda: mse_positive_iid(x, y, m),
        ("positive", True): lambda: mse_positive_orf(x, y, m, d),
        ("hyperbolic", False): lambda: mse_hyperbolic_iid(x, y, m),
        ("hyperbolic", True): lambda: mse_hyperbolic_orf(x, y, m, d),
        ("trigonometric", False): lambda: mse_trigonometric_iid(x, y, m),
        ("trigonometric", True): lambda: mse_trigonometric_orf(x, y, m, d),
    }
    if (kind, orthogonal) not in table:
        raise ValueError(f"no closed form for kind={kind!r}")
    return table[(kind, orthogonal)]()


def mean_pair_rho(q: object, k: object) -> np.ndarray:
    """ρ = mean over all (i, j) of ‖q̃_i + k̃_j‖²/d, computed the naive O(Lq·Lk·d) way: the data
    statistic whose A* FAVOR++ uses (MATH 23). q: ``[..., Lq, d]``, k: ``[..., Lk, d]``."""
    q, k = _np(q), _np(k)
    pairs = q[..., :, None, :] + k[..., None, :, :]
    return (pairs**2).sum(-1).mean(axis=(-2, -1)) / q.shape[-1]
