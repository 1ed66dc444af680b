"""Higher moments of one random-feature row and of the m-row iid kernel estimator (MATH 36-38).

The one-row estimate of SM(x, y) = e^{xᵀy} for each kind, ω ~ N(0, I_d):

* positive       Y = exp(ωᵀx − ‖x‖²/2)·exp(ωᵀy − ‖y‖²/2)                     (MATH 3)
* hyperbolic     Y = Λ·cosh(ωᵀz), z = x + y, Λ = e^{−(‖x‖²+‖y‖²)/2}            (MATH 4)
* trigonometric  Y = e^{(‖x‖²+‖y‖²)/2}·cos(ωᵀΔ), Δ = x − y                    (MATH 2)
* gerf           Y = f(ω,x)f(ω,y), f = D·exp(A‖ω‖² + Bωᵀx − ‖x‖²/2)            (MATH 21)

The m-row estimator is the mean of m iid copies (hyperbolic: m vectors, 2m features). Central
moments are evaluated in forms free of the cancellation that raw-moment differences suffer at
small s and A (MATH 37). Vectors are array-likes ``[..., d]``; results are float64 ``[...]``.
"""

from __future__ import annotations

import math

import numpy as np

from favor_suite.reference.kernel_moments import _gerf_check, _np, _parts, gerf_log_ratio, softmax_kernel

__all__ = ["ROW_KINDS", "estimator_central_moments", "mse_ratio_variance", "row_central_moments", "row_raw_moment"]

ROW_KINDS = ("positive", "hyperbolic", "trigonometric", "gerf")

Moments = tuple[np.ndarray, np.ndarray, np.ndarray]


def _check(kind: str, gerf_a: float | None, p: int) -> None:
    if kind not in ROW_KINDS:
        raise ValueError(f"kind must be one of {ROW_KINDS}, got {kind!r}")
    if (kind == "gerf") != (gerf_a is not None):
        raise ValueError(f"gerf_a is required for kind='gerf' and only for it (kind={kind!r}, gerf_a={gerf_a})")
    if kind == "gerf":
        _gerf_check(gerf_a, p)


def row_raw_moment(kind: str, x: object, y: object, p: int, *, gerf_a: float | None = None) -> np.ndarray:
    """E[Y^p] for an integer p ≥ 1 (the suite uses 1-4) (MATH 36):

    positive: Λ^p e^{p²s/2};  hyperbolic: Λ^p·2^{−p}Σ_k C(p,k) e^{(p−2k)²s/2};
    trigonometric: e^{p(‖x‖²+‖y‖²)/2}·2^{−p}Σ_k C(p,k) e^{−(p−2k)²‖Δ‖²/2};
    gerf: (1−4A)^{pd/2}(1−4pA)^{−d/2}·exp(p²(1−4A)s/(2(1−4pA)) − p(‖x‖²+‖y‖²)/2), finite iff
    A < 1/(4p) (ValueError otherwise).
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise ValueError(f"p must be an integer ≥ 1, got {p!r}")
    _check(kind, gerf_a, p)
    x2, y2, s, delta2 = _parts(x, y)
    half = (x2 + y2) / 2
    if kind == "positive":
        return np.exp(p * p * s / 2 - p * half)
    if kind == "gerf":
        a, d = gerf_a, _np(x).shape[-1]
        log_norm = p * d / 2 * math.log1p(-4 * a) - d / 2 * math.log1p(-4 * p * a)
        return np.exp(log_norm + p * p * (1 - 4 * a) * s / (2 * (1 - 4 * p * a)) - p * half)
    sign, t = (1.0, s) if kind == "hyperbolic" else (-1.0, delta2)
    average = sum(math.comb(p, k) * np.exp(sign * (p - 2 * k) ** 2 * t / 2) for k in range(p + 1)) / 2**p
    return np.exp(-sign * p * half) * average


def _expm1_minus_x(x: np.ndarray) -> np.ndarray:
    """φ(x) = eˣ − 1 − x: the series Σ_{k≥2}xᵏ/k! (25 terms, tail < 1/25!) for |x| < 1, where the
    difference would cancel; the difference itself otherwise (cancellation factor ≤ 4.4)."""
    x = np.asarray(x, dtype=np.float64)
    small = np.where(np.abs(x) < 1, x, 0.0)
    term, series = small * small / 2, np.zeros_like(small)
    for k in range(3, 27):
        series += term
        term = term * small / k
    return np.where(np.abs(x) < 1, series, np.expm1(x) - x)


def _gerf_differences(x: object, y: object, a: float) -> Moments:
    """(D₂, D₃, D₄): the finite differences Δᵏℓ_0 of ℓ_j = ln(E[Y^j]/SM^j) (MATH 37), α = 4A,
    c_j = 1 − jα: D_k = −(d/2)·Δᵏ ln c_j + (s/2)·Δᵏ[j(j−1)/c_j], each in a cancellation-free form."""
    _, _, s, _ = _parts(x, y)
    d, alpha = _np(x).shape[-1], 4 * a
    c1, c2, c3, c4 = (1 - j * alpha for j in (1, 2, 3, 4))
    quartic = 6 - 48 * alpha + 140 * alpha**2 - 176 * alpha**3 + 81 * alpha**4
    d3 = -d / 2 * math.log1p(-(alpha**3) * (2 - 3 * alpha) / c2**3) + 3 * alpha * s / (c2 * c3)
    # Δ⁴ln c_j = ln(c4·c2⁶/(c3⁴c1⁴)) = ln(1 − α⁴q/(c3⁴c1⁴)): log1p where that argument is small,
    # the sum of logs near the pole c4 → 0 (A → 1/16), where 1 − α⁴q/(c3⁴c1⁴) loses every digit.
    shrink = -(alpha**4) * quartic / (c3**4 * c1**4)
    log_ratio = math.log1p(shrink) if shrink > -0.5 else math.log(c4) + 6 * math.log(c2) - 4 * math.log(c3 * c1)
    d4 = -d / 2 * log_ratio + 12 * alpha**2 * s / (c2 * c3 * c4)
    return gerf_log_ratio(x, y, a), np.asarray(d3, dtype=np.float64), np.asarray(d4, dtype=np.float64)


def _standardized(kind: str, x: object, y: object, gerf_a: float | None) -> tuple[np.ndarray, Moments, np.ndarray]:
    """(scale, (μ₂, μ₃, μ₄) of Y/scale about its mean, μ₄/μ₂² with its s → 0 limit) (MATH 37)."""
    x2, y2, s, delta2 = _parts(x, y)
    if kind in ("positive", "gerf"):
        if kind == "gerf":
            d2, d3, d4 = _gerf_differences(x, y, gerf_a)
        else:
            d2, d3, d4 = s, np.zeros_like(s), np.zeros_like(s)
        e2, e3, t = np.expm1(d2), np.expm1(d3), np.exp(d2)
        lognormal = t**4 + 2 * t**3 + 3 * t**2 - 3
        extra = 4 * t**3 * e3 * np.expm1(3 * d2) + t**6 * (d4 + _expm1_minus_x(4 * d3 + d4) - 4 * _expm1_minus_x(d3))
        mu4 = e2 * e2 * lognormal + extra
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = lognormal + np.where(e2 > 0, extra / e2 / e2, 0.0)  # e2² may underflow, e2 does not
        return softmax_kernel(x, y), (e2, t**3 * e3 + e2 * e2 * (t + 2), mu4), ratio
    if kind == "hyperbolic":
        half_log, scale, log_y = s / 2, np.exp(-(x2 + y2) / 2), s
    else:
        half_log, scale, log_y = -delta2 / 2, np.exp((x2 + y2) / 2), -delta2
    e, t = np.expm1(log_y), np.exp(log_y)
    quartic = t**4 + 4 * t**3 + 10 * t**2 + 12 * t + 3
    return scale, (e * e / 2, np.exp(half_log) * e**3 * (t + 3) / 4, e**4 * quartic / 8), quartic / 2


def row_central_moments(kind: str, x: object, y: object, *, gerf_a: float | None = None) -> Moments:
    """(μ₂, μ₃, μ₄): central moments of one row's Y (MATH 37). With t = e^{D₂} and eᵢ = expm1(Dᵢ):

    positive/gerf (scale SM): μ₂ = e₂, μ₃ = t³e₃ + e₂²(t + 2),
    μ₄ = e₂²(t⁴ + 2t³ + 3t² − 3) + 4t³e₃·expm1(3D₂) + t⁶(D₄ + φ(4D₃ + D₄) − 4φ(D₃)), φ(u) = eᵘ − 1 − u,
    D₂ = s, D₃ = D₄ = 0 for positive; hyperbolic (scale Λ, t = e^s) and trigonometric
    (scale e^{(‖x‖²+‖y‖²)/2}, t = e^{−‖Δ‖²}): μ₂ = (t−1)²/2, μ₃ = √t(t−1)³(t+3)/4,
    μ₄ = (t−1)⁴(t⁴ + 4t³ + 10t² + 12t + 3)/8. GERF needs A < 1/16.
    """
    _check(kind, gerf_a, 4)
    scale, (mu2, mu3, mu4), _ = _standardized(kind, x, y, gerf_a)
    return scale**2 * mu2, scale**3 * mu3, scale**4 * mu4


def estimator_central_moments(kind: str, x: object, y: object, m: int, *, gerf_a: float | None = None) -> Moments:
    """(variance, third, fourth central moment) of the mean of m iid rows (MATH 38):
    μ₂/m, μ₃/m², (μ₄ + 3(m − 1)μ₂²)/m³."""
    mu2, mu3, mu4 = row_central_moments(kind, x, y, gerf_a=gerf_a)
    return mu2 / m, mu3 / m**2, (mu4 + 3 * (m - 1) * mu2**2) / m**3


def mse_ratio_variance(kind: str, x: object, y: object, m: int, *, gerf_a: float | None = None) -> np.ndarray:
    """Var(T), T = (X − SM)²/MSE for the m-row iid estimator X: E[(X − SM)⁴]/MSE² − 1 =
    2 + (μ₄/μ₂² − 3)/m (MATH 38; MATH 27 is the positive case). Where MSE = 0 (a point mass) it
    returns the limit as s → 0: 2 for positive, 2 + 12/m for hyperbolic and trigonometric."""
    _check(kind, gerf_a, 4)
    *_, ratio = _standardized(kind, x, y, gerf_a)
    return 2 + (ratio - 3) / m
