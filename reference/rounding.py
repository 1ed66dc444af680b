"""Floating-point error bounds (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002).

The exact identities of the suite hold "to rounding"; these functions say how much rounding, from
the unit roundoffs an implementation declares (``Precision``: products and accumulation) and the
sizes of the sums it performs. Derivations: MATH "Rounding allowances".
"""

from __future__ import annotations

import torch

__all__ = [
    "accumulation_roundoff",
    "exp_sum_bound",
    "feature_error",
    "finite_input_radius",
    "gamma",
    "quotient_allowance",
    "quotient_amplification",
    "ratio_of_sums_bound",
    "term_error",
    "underflow_error",
    "unit_roundoff",
]

FEATURE_EXTRA_TERMS = 4
"""Terms of a log-feature besides its length-d dot product ωᵀx: −‖x‖²/2 (itself a length-d sum,
counted here once more as one rounded result), −ln(m)/2 or its like, a stabilizer subtracted, and
the exp: ℓ = ωᵀx − ‖x‖²/2 − ½ln m − c is a sum of d + 3 rounded terms, exp rounds once more."""


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = ε/2: the relative error of one correctly rounded operation."""
    return torch.finfo(dtype).eps / 2


def underflow_error(dtype: torch.dtype) -> float:
    """η = ½·ε·tiny: the absolute error of rounding a number into the subnormal range of ``dtype``
    (gradual underflow: fl(x) = x(1 + δ) + η, |δ| ≤ u, |η| ≤ η; Higham §2.1). A final rounding to
    fp16 of a gradient of size 1e-6 has an error of η = 3e-8, far above u·|x|."""
    info = torch.finfo(dtype)
    return info.tiny * info.eps / 2


def accumulation_roundoff(declared: torch.dtype) -> float:
    """Unit roundoff the suite allows for sums over the sequence and the features: the declared
    accumulation's, but never coarser than fp32's — the standard of serious kernels (flash
    attention, fla): a half-precision running sum stops absorbing terms below half an ulp."""
    return min(unit_roundoff(declared), unit_roundoff(torch.float32))


def gamma(n: int | torch.Tensor, u: float) -> float | torch.Tensor:
    """γ_n = n·u/(1 − n·u): bound on the relative error of a length-n sum or dot product, and on
    |Π(1 + δ_i)^{±1} − 1| for n factors |δ_i| ≤ u (Higham §3.1, Lemma 3.1). ``n`` may be a tensor
    of lengths (one per output element)."""
    nu = n * u
    if bool((torch.as_tensor(nu) >= 1).any()):
        raise ValueError(f"n·u = {nu} ≥ 1: no rounding bound")
    return nu / (1 - nu)


def quotient_amplification(relative_error: float, condition: torch.Tensor) -> torch.Tensor:
    """1/(1 − ε·κ), or +inf where ε·κ ≥ 1: the exact factor by which a normalizer D = Σ_j a_j
    computed within ε·Σ_j|a_j| (condition κ = Σ_j|a_j|/|D|) enlarges first-order quotient errors,
    since |1/(D + δ) − 1/D| = |δ|/(|D|·|D + δ|) ≤ ε·κ/(|D|·(1 − ε·κ)) and
    |(N + δN)/(D + δ) − N/D| ≤ (|δN| + |N/D|·|δ|)/(|D|·(1 − ε·κ)). κ = 1 for positive features; with
    signed (trigonometric) features D can cancel, and once ε·κ ≥ 1 the computed D may be zero or
    change sign: the quotient is then not determined by the precision at all (MATH 43g)."""
    product = relative_error * condition
    return torch.where(product < 1, 1 / (1 - product), torch.inf)


def quotient_allowance(
    epsilon: float | torch.Tensor,
    numerator_abs: torch.Tensor,
    normalizer_abs: torch.Tensor,
    normalizer: torch.Tensor,
    y: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """Elementwise allowance of Y = N/D when N and D are each within ε of their absolute sums
    (MATH 43d): ε·(Σ|terms of N| + |Y|·Σ|terms of D|)/|D| times ``quotient_amplification``, plus
    one rounding to ``out_dtype`` (u_out·|Y| + η_out). A zero magnitude (v and Y zero in that
    column) is an exact zero numerator: nothing to amplify, so 0·inf is not formed."""
    magnitude = (numerator_abs + y.abs().nan_to_num() * normalizer_abs) / normalizer
    amplification = quotient_amplification(epsilon, normalizer_abs / normalizer)
    magnitude = torch.where(magnitude > 0, magnitude * amplification, magnitude)
    return epsilon * magnitude + unit_roundoff(out_dtype) * y.abs() + underflow_error(out_dtype)


def feature_error(d: int, exponent: float, u: float) -> float:
    """Relative error of one feature φ = exp(ℓ) (or its sin/cos factor), ℓ computed in unit
    roundoff u as a sum of d + ``FEATURE_EXTRA_TERMS`` − 1 terms whose magnitudes sum to at most
    ``exponent``: |Δℓ| ≤ γ_{d+3}·exponent absolutely, which exp turns into the same relative
    error, plus the rounding of exp itself; γ_{d+4}·(1 + exponent) covers both (Lemma 3.1)."""
    return gamma(d + FEATURE_EXTRA_TERMS, u) * (1 + exponent)


def term_error(
    *, d: int, exponent: float, features: int, length: int | torch.Tensor, products: float, accumulation: float
) -> float | torch.Tensor:
    """Relative error bound ε of the numerator Σ_j Σ_f φ_f(q)φ_f(k_j)v_j (and the normalizer,
    v = 1) of attention, measured against Σ_j Σ_f |φ_f(q)||φ_f(k_j)||v_j|, whatever the order of
    the summation: each term is two features (error ``feature_error`` each, in the products'
    roundoff) times v with two rounded products, and at most L·F terms are added along a path of
    at most L + F additions in the accumulation roundoff: ε = 2·feature_error + γ_2(u_p) +
    γ_{L+F}(u_a). First order in u (the neglected terms are O(ε²))."""
    return 2 * feature_error(d, exponent, products) + gamma(2, products) + gamma(length + features, accumulation)


def ratio_of_sums_bound(terms: int, exponent: float, u: float) -> float:
    """Relative error bound of Σ_j â_j v_j / Σ_j â_j with positive weights â_j = exp(argument of
    size ≤ ``exponent``), all in one unit roundoff u, measured against Σ_j|â_j||v_j|/Σ_j â_j:
    numerator and normalizer each within γ_terms·(1 + exponent) (exp of a rounded argument, then a
    sum of ``terms``), one division: 2γ_terms·(1 + exponent) + 2u (first order)."""
    g = gamma(terms, u)
    return 2 * g * (1 + exponent) + 2 * u


def finite_input_radius(
    dtype: torch.dtype, largest_projection_norm: float, *, input_dtype: torch.dtype | None = None, d: int = 1
) -> float:
    """R such that positive-feature attention is finite whenever ‖q̃‖, ‖k̃‖ ≤ R, for features
    computed in ``dtype`` (the declared products precision) from inputs of ``input_dtype``:
    the smallest of three limits.

    * Underflow: with per-query and shared-key stabilization (MATH 19) every normalizer contains
      the term of the key and feature that set the key reference, whose value is ≥ exp(−2·Ω·‖q̃‖),
      Ω = max_r ‖ω_r‖: it stays above the smallest normal number while 2·Ω·R ≤ ln(1/tiny).
    * Overflow of the exponent's terms: ‖x̃‖²/2 must be representable, R ≤ √(max) of ``dtype``.
    * The inputs themselves: an entry of q = d^{1/4}q̃ is at most ‖q‖, so q is representable in
      its dtype while R ≤ max(input dtype)·d^{−1/4} (fp16: 65504).
    Everything else is bounded by 1 times L·F·max|V|.
    """
    info = torch.finfo(dtype)
    underflow = float(-torch.log(torch.tensor(info.tiny, dtype=torch.float64))) / (2 * largest_projection_norm)
    limits = [underflow, info.max**0.5]
    if input_dtype is not None:
        limits.append(torch.finfo(input_dtype).max * d**-0.25)
    return min(limits)


def exp_sum_bound(terms: int, exponent: float, u: float) -> float:
    """Relative error bound of a sum of ``terms`` positive numbers, each exp of an argument of size
    ≤ ``exponent`` formed by a dot product or sum of at most ``terms`` numbers: the argument's
    absolute error γ_terms·exponent becomes the same relative error after exp, and the sum adds
    γ_terms (Higham Lemma 3.1): γ_terms·(1 + exponent)."""
    return gamma(terms, u) * (1 + exponent)
