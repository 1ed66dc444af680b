"""The ORF mean squared errors as power series with exact rational coefficients (MATH 32-35).

The closed forms of MATH 12-13 are differences of exponential-type functions, M(d, d/2, s/2) − e^s
and the like, which lose every digit as s → 0. Each MSE is rewritten here as one power series
S(t) = Σ_n c_n tⁿ/n! whose coefficients c_n are rationals in (m, d): they are computed exactly
(Python integers over one common denominator) and rounded once, and the series is summed in
float64 until its tail is below u/8 of the partial sum. Error bound (MATH 34):
|Ŝ − S| ≤ γ_{3N+2}·Σ_{n≤N}|c_n|tⁿ/n! + (u/8)|Ŝ| with N the terms used; for the three kinds with
nonnegative coefficients that is a relative error of γ_{3N+2} + u/8, a few ulps at small t.

Kinds and variables (P = ``same_block_pairs(m, d)``, r_n = Π_{k<n}(d+k)/(d+2k)):

=================  ==========  ====================================================  =========
kind               t           c_n                                                   MATH
=================  ==========  ====================================================  =========
positive           s           m(2ⁿ − 1) − P(1 − r_n)                    (all ≥ 0)    32
hyperbolic         s           m(2ⁿ⁻¹ − 1) − P(1 − r_n)                  (all ≥ 0)    32
trigonometric      ‖x − y‖²    m[n even] + P·Σ_j C(n,j)(−1)^j r_j, n ≥ 2  (mixed)     33
positive_fixed     d·s/4       m(4ⁿ/(d/2)_n − G_n) + P(2ⁿ/(d/2)_n − G_n) (all ≥ 0)    35
=================  ==========  ====================================================  =========

with G_n = Σ_j C(n,j)/((d/2)_j (d/2)_{n−j}). The MSE is the prefactor times S(t)/m²:
Λ² = e^{−‖x‖²−‖y‖²} for positive, hyperbolic and positive_fixed, SM² = e^{2xᵀy} for trigonometric.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from favor_suite.reference.projections import same_block_pairs

__all__ = ["SERIES_KINDS", "orf_coefficients", "orf_series"]

SERIES_KINDS = ("positive", "hyperbolic", "trigonometric", "positive_fixed")
_U = 2.0**-53
_FIRST_TERMS = 32


def _rising_scaled(d: int, terms: int) -> tuple[list[int], int]:
    """R_n with r_n = R_n/B for n < terms, B = Π_{k<terms−1}(d + 2k) (one common denominator)."""
    top = terms - 1
    tails = [1] * terms  # tails[n] = Π_{n≤k<top}(d + 2k)
    for n in range(top - 1, -1, -1):
        tails[n] = tails[n + 1] * (d + 2 * n)
    numerators, head = [], 1
    for n in range(terms):
        numerators.append(head * tails[n])
        head *= d + n
    return numerators, tails[0]


def _binomial_transform(values: list[int]) -> list[int]:
    """β_n = Σ_j C(n,j)(−1)^j a_j = (−1)ⁿΔⁿa_0, by a difference table (exact integers)."""
    out, row = [], list(values)
    for n in range(len(values)):
        out.append(row[0] if n % 2 == 0 else -row[0])
        row = [b - a for a, b in itertools.pairwise(row)]
    return out


def _fixed_norm_numerators(d: int, m: int, pairs: int, terms: int) -> tuple[list[int], int]:
    """MATH 35: with Q_n = Π_{k<n}(d + 2k), (d/2)_n = Q_n/2ⁿ, so 4ⁿ/(d/2)_n = 8ⁿ/Q_n,
    2ⁿ/(d/2)_n = 4ⁿ/Q_n and G_n = 2ⁿΣ_j C(n,j)/(Q_jQ_{n−j}); common denominator Q_{terms−1}²."""
    q = [math.prod(d + 2 * k for k in range(n)) for n in range(terms)]
    big = q[-1]
    scaled = [big // qn for qn in q]  # Q_top/Q_n, exact
    denominator = big * big
    numerators = []
    for n in range(terms):
        g = 2**n * sum(math.comb(n, j) * scaled[j] * scaled[n - j] for j in range(n + 1))
        numerators.append(m * (8**n * big * scaled[n] - g) + pairs * (4**n * big * scaled[n] - g))
    if min(numerators) < 0:
        raise ArithmeticError(f"MATH 35 coefficient negative for m = {m}, d = {d}: the error bound does not apply")
    return numerators, denominator


@lru_cache(maxsize=512)
def _numerators(kind: str, m: int, d: int, terms: int) -> tuple[tuple[int, ...], int]:
    """(numerators of c_0 … c_{terms−1}, common denominator), exact."""
    pairs = same_block_pairs(m, d)
    if kind == "positive_fixed":
        numerators, denominator = _fixed_norm_numerators(d, m, pairs, terms)
        return tuple(numerators), denominator
    rising, denominator = _rising_scaled(d, terms)
    if kind == "positive":
        numerators = [m * (2**n - 1) * denominator - pairs * (denominator - r) for n, r in enumerate(rising)]
    elif kind == "hyperbolic":
        numerators = [0] + [
            m * (2 ** (n - 1) - 1) * denominator - pairs * (denominator - r) for n, r in enumerate(rising) if n >= 1
        ]
    elif kind == "trigonometric":
        beta = _binomial_transform(rising)
        numerators = [m * (n >= 2 and n % 2 == 0) * denominator + pairs * b for n, b in enumerate(beta)]
        numerators[0] = 0  # β_0 = 1: the constant term is m·0 + P(β_0 − 1)
    else:
        raise ValueError(f"kind must be one of {SERIES_KINDS}, got {kind!r}")
    return tuple(numerators), denominator


def orf_coefficients(kind: str, m: int, d: int, terms: int) -> list[tuple[int, int]]:
    """c_0 … c_{terms−1} of the series of ``kind`` (module table), each as an exact fraction
    (numerator, denominator) of Python integers."""
    numerators, denominator = _numerators(kind, m, d, terms)
    return [(n, denominator) for n in numerators]


@lru_cache(maxsize=512)
def _float_coefficients(kind: str, m: int, d: int, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """(c_n rounded once — int/int true division is correctly rounded —, growth g_n) where
    |c_n| ≤ K·Π_{k<n} g_k bounds the coefficients (MATH 34)."""
    numerators, denominator = _numerators(kind, m, d, terms)
    coefficients = np.array([n / denominator for n in numerators])
    n = np.arange(terms, dtype=np.float64)
    growth = {
        "positive": np.full(terms, 2.0),
        "hyperbolic": np.full(terms, 2.0),
        "trigonometric": np.ones(terms),
        "positive_fixed": 8.0 / (d + 2.0 * n),
    }[kind]
    return coefficients, growth


def _scale(kind: str, m: int, d: int) -> float:
    """K with |c_n| ≤ K·Π_{k<n} g_k for n ≥ 1 (MATH 34)."""
    pairs = same_block_pairs(m, d)
    return {"positive": m, "hyperbolic": m / 2, "trigonometric": m + pairs, "positive_fixed": m}[kind]


def orf_series(kind: str, t: object, m: int, d: int) -> np.ndarray:
    """S(t) = Σ_{n≥1} c_n tⁿ/n! for ``kind`` (module table), elementwise over t ≥ 0 ``[...]``.

    Each element is summed until ρ_n = g_n·t/(n+1) ≤ ½ and the tail bound 2ρ_n·K·Π_{k<n}g_k·tⁿ/n!
    is ≤ (u/8)|partial sum| (MATH 34); later terms are not added. S(0) = 0 exactly; +inf maps to
    +inf and NaN to NaN. t up to ~300 (positive, hyperbolic) or ~700 (trigonometric) before the
    terms overflow.
    """
    t = np.asarray(t, dtype=np.float64)
    if (t < 0).any():
        raise ValueError(f"orf_series needs t ≥ 0 (a squared norm), got min {t.min()}")
    finite = np.isfinite(t)
    tf = np.where(finite, t, 0.0)
    total = np.zeros_like(tf)
    power = np.ones_like(tf)  # tⁿ/n!
    bound = np.full_like(tf, _scale(kind, m, d))  # K·Π_{k<n}g_k·tⁿ/n!
    active = finite.copy()
    terms = _FIRST_TERMS
    coefficients, growth = _float_coefficients(kind, m, d, terms)
    n = 0
    while active.any():
        n += 1
        if n + 1 >= terms:
            terms *= 2
            coefficients, growth = _float_coefficients(kind, m, d, terms)
        power = power * tf / n
        bound = bound * growth[n - 1] * tf / n
        total = np.where(active, total + coefficients[n] * power, total)
        ratio = growth[n] * tf / (n + 1)
        active &= ~((ratio <= 0.5) & (2 * bound * ratio <= _U / 8 * np.abs(total)))
    return np.where(finite, total, t)
