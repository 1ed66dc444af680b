"""Floating-point error bounds (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002).

The exact identities of the suite hold "to rounding"; these functions say how much rounding.
"""

from __future__ import annotations

import torch

__all__ = ["compute_roundoff", "exp_sum_bound", "finite_input_radius", "gamma", "ratio_of_sums_bound", "unit_roundoff"]


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = ε/2: the relative error of one correctly rounded operation."""
    return torch.finfo(dtype).eps / 2


def compute_roundoff(dtype: torch.dtype) -> float:
    """Unit roundoff of the dtype FAVOR computes in: fp16/bf16 accumulate in fp32."""
    return unit_roundoff(dtype if dtype == torch.float64 else torch.float32)


def gamma(n: int, u: float) -> float:
    """γ_n = n·u/(1 − n·u): bound on the relative error of a length-n sum or dot product
    (Higham §3.1, Lemma 3.1)."""
    nu = n * u
    if nu >= 1:
        raise ValueError(f"n·u = {nu} ≥ 1: no rounding bound")
    return nu / (1 - nu)


def ratio_of_sums_bound(terms: int, exponent: float, u: float) -> float:
    """Relative error bound of Ŷ_ic = Σ_j â_j v_jc / Σ_j â_j, measured against Σ_j |â_j||v_jc| / |Σ_j â_j|,
    when â_j = φ(q)ᵀφ(k_j) is itself computed through exp of an argument of size ≤ ``exponent``:
    exp turns an absolute argument error of γ·exponent into the same relative error; then a dot
    product over the features and a sum over keys (``terms`` = d + F + L in all), numerator and
    normalizer each, and one division: 2γ_terms + 2·exponent·γ_terms + 2u."""
    g = gamma(terms, u)
    return 2 * g + 2 * exponent * g + 2 * u


def finite_input_radius(dtype: torch.dtype, largest_projection_norm: float) -> float:
    """R such that positive-feature attention is finite whenever ‖q̃‖, ‖k̃‖ ≤ R.

    With per-query and shared-key stabilization (MATH 19) every normalizer contains the term of
    the key and feature that set the key reference, whose value is ≥ exp(−2·Ω·‖q̃‖) with
    Ω = max_r ‖ω_r‖: it stays above the smallest normal number of the compute dtype while
    2·Ω·R ≤ ln(1/tiny). Everything else is bounded by 1 times L·F·max|V|. fp16/bf16 compute in fp32.
    """
    compute = dtype if dtype == torch.float64 else torch.float32
    return float(-torch.log(torch.tensor(torch.finfo(compute).tiny, dtype=torch.float64))) / (
        2 * largest_projection_norm
    )


def exp_sum_bound(terms: int, exponent: float, u: float) -> float:
    """Relative error bound of a sum of ``terms`` positive numbers, each exp of an argument of size
    ≤ ``exponent`` formed by a dot product or sum of at most ``terms`` numbers: the argument's
    absolute error γ_terms·exponent becomes the same relative error after exp, and the sum adds
    γ_terms (Higham Lemma 3.1): γ_terms·(1 + exponent)."""
    return gamma(terms, u) * (1 + exponent)
