"""The attention output: ``reference.output_moments`` (exact moments of N̂ and D̂, the delta method
for Ŷ) against seeded Monte Carlo, and ``reference.softmax`` against direct float64
(MATH 1, 17, 20, 41). Conventions: ``_reference_mc``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from favor_suite.assertions import assert_close
from favor_suite.meta._reference_mc import F64, U64, Z_HEAVY, assert_band, assert_mc, gen
from favor_suite.reference import features as rf
from favor_suite.reference import output_moments as om
from favor_suite.reference import projections as rp
from favor_suite.reference import rounding, softmax


def _direct_attention(weights: np.ndarray, v: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Σ_j w_ij v_j / Σ_j w_ij over allowed j, NaN for a row with no allowed key."""
    w = np.where(allowed, weights, 0.0)
    with np.errstate(invalid="ignore"):
        return (w @ v) / w.sum(-1, keepdims=True)


def _allowed(length: int, causal: bool, key_mask: torch.Tensor | None) -> np.ndarray:
    allowed = np.tril(np.ones((length, length), bool)) if causal else np.ones((length, length), bool)
    return allowed & (key_mask.numpy()[..., None, :] if key_mask is not None else True)


def _problem(seed: int, length: int, d: int, radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k ``[L, d]`` with ‖q̃‖, ‖k̃‖ ∈ [½, 1]·radius (so every s_ij ≤ 4·radius², MATH 28), v ``[L, 2]``."""
    g = gen(seed)
    q, k = torch.randn(2, length, d, generator=g, dtype=F64)
    norms = radius * d**0.25 * (0.5 + 0.5 * torch.rand(2, length, 1, generator=g, dtype=F64))
    v = torch.randn(length, 2, generator=g, dtype=F64)
    return q / q.norm(dim=-1, keepdim=True) * norms[0], k / k.norm(dim=-1, keepdim=True) * norms[1], v


def _pair_estimates(kind: str, q: torch.Tensor, k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Â = φ(q̃)φ(k̃)ᵀ ``[n, Lq, Lk]`` for each projection of w ``[n, m, d]``, with the naive maps of
    ``reference.features`` (each entry is the mean of m iid one-row estimates of SM(q̃_i, k̃_j))."""
    scale = q.shape[-1] ** -0.25
    return rf.feature_map(q * scale, w, kind=kind) @ rf.feature_map(k * scale, w, kind=kind).transpose(-2, -1)


@pytest.mark.parametrize(
    ("kind", "causal", "masked"),
    [("positive", True, False), ("hyperbolic", False, True), ("trigonometric", True, True)],
)
def test_output_moments(kind: str, causal: bool, masked: bool) -> None:
    """N̂ = ÂV and D̂ = Â1 over 40 000 replicates of m = 2 iid rows against output_moments (MATH 41):
    the means, Var N̂, Var D̂, Cov(N̂, D̂), and the variances of (N̂ − EN̂)², (D̂ − ED̂)² and
    (N̂ − EN̂)(D̂ − ED̂) — the last three from the squared deviations of those products from their
    exact means. m = 2 makes the fourth-moment term weigh as much as the pairing term; ‖q̃‖, ‖k̃‖ ≤ 0.3
    keeps the eighth moments the standard errors need moderate; every mean is z-tested at α/10."""
    q, k, v = _problem(seed=50, length=5, d=3, radius=0.3)
    m, n = 2, 40_000
    key_mask = torch.tensor([True, False, True, True, True]) if masked else None
    allowed = torch.as_tensor(_allowed(5, causal, key_mask))
    exact = om.output_moments(q, k, v, m, kind=kind, causal=causal, key_mask=key_mask)
    a_hat = _pair_estimates(kind, q, k, rp.iid_gaussian(m, 3, gen(51), batch=(n,))) * allowed
    dn, dd = a_hat @ v - exact.mean_numerator, a_hat.sum(-1) - exact.mean_normalizer
    cross = dn * dd[..., None]
    checks = [
        ("E N̂", dn, 0 * exact.mean_numerator),
        ("E D̂", dd, 0 * exact.mean_normalizer),
        ("Var N̂", dn**2, exact.var_numerator),
        ("Var D̂", dd**2, exact.var_normalizer),
        ("Cov(N̂, D̂)", cross, exact.cov),
        ("Var((N̂ − EN̂)²)", (dn**2 - exact.var_numerator) ** 2, exact.var_sq_numerator),
        ("Var((D̂ − ED̂)²)", (dd**2 - exact.var_normalizer) ** 2, exact.var_sq_normalizer),
        ("Var((N̂ − EN̂)(D̂ − ED̂))", (cross - exact.cov) ** 2, exact.var_cross),
    ]
    for name, samples, closed in checks:
        for index in np.ndindex(*closed.shape):
            if not allowed[index[0]].any():
                continue
            assert_mc(
                f"{name} vs output_moments",
                samples[(slice(None), *index)],
                float(closed[index]),
                heavy_tailed=True,
                kind=kind,
                causal=causal,
                masked=masked,
                entry=index,
            )


MODEL_BAND = (0.93, 1.00)
"""MATH 20: for m ≥ 32 and s ≲ 1 the true Var Ŷ was measured within 0.93-1.00 of the delta-method
variance (an approximation, not a bound: 0.89 at s ≈ 1.1, m = 32)."""


@pytest.mark.parametrize(("causal", "masked"), [(False, False), (False, True), (True, False)])
def test_delta_method_moments(causal: bool, masked: bool) -> None:
    """Bias and variance of Ŷ_ic = N̂_ic/D̂_i with m = 64 iid positive features (8000 replicates of the
    actual ratio estimator) against delta_method_moments (MATH 20).

    Variance: the sample variance lies in [0.93, 1.00]·(delta variance) ± Z·se(sample variance); the
    band is MATH 20's measured model error at m ≥ 32, s ≲ 1. Bias: the mean of Ŷ − y − (N̂ − y·D̂)/D
    (the subtracted linear term has mean exactly 0 because N̂ and D̂ are unbiased, MATH 17; it cuts
    the se about tenfold; its samples carry log-normal tails, hence z_test_critical) lies within ±7 %
    of the delta bias ± z·se. MATH 20 states no accuracy for the bias; the variance's 7 % is assumed
    for it (measured here at 10⁵ replicates: ratio 0.94-1.01). Every s_ij ≤ 1 here: at s_max ≈ 2.2,
    m = 64 the variance ratio was measured at 0.74-0.92. Causal row 0 has one key, Ŷ_0 = v_0
    exactly, and is skipped."""
    q, k, v = _problem(seed=20, length=6, d=4, radius=0.5)
    m, n, d = 64, 8000, q.shape[-1]
    key_mask = torch.tensor([True, True, False, True, True, True]) if masked else None
    allowed = _allowed(6, causal, key_mask)
    weights = np.where(allowed, np.exp(q.numpy() @ k.numpy().T / math.sqrt(d)), 0.0)
    y, denom = _direct_attention(weights, v.numpy(), allowed), weights.sum(-1, keepdims=True)
    a_hat = (
        _pair_estimates("positive", q, k, rp.iid_gaussian(m, d, gen(21), batch=(n,))) * torch.as_tensor(allowed)
    ).numpy()
    num_hat, den_hat = a_hat @ v.numpy(), a_hat.sum(-1, keepdims=True)
    y_hat = num_hat / den_hat
    bias_samples = y_hat - y - (num_hat - y * den_hat) / denom
    sq = (y_hat - y_hat.mean(0)) ** 2 * n / (n - 1)
    bias, var = (t.numpy() for t in om.delta_method_moments(q, k, v, m, causal=causal, key_mask=key_mask))
    for i in range(1 if causal else 0, 6):
        for c in range(2):
            ctx = dict(row=i, column=c, causal=causal, masked=masked, m=m, replicates=n)
            band = (1 - MODEL_BAND[0]) * abs(bias[i, c])
            assert_band(
                "MC bias of Ŷ vs delta_method_moments bias (±7 %)",
                bias_samples[:, i, c].mean(),
                bias_samples[:, i, c].std(ddof=1) / math.sqrt(n),
                bias[i, c] - band,
                bias[i, c] + band,
                z=Z_HEAVY,
                **ctx,
            )
            assert_band(
                "MC Var Ŷ vs delta_method_moments variance (model band 0.93-1.00)",
                sq[:, i, c].mean(),
                sq[:, i, c].std(ddof=1) / math.sqrt(n),
                MODEL_BAND[0] * var[i, c],
                MODEL_BAND[1] * var[i, c],
                **ctx,
            )


# ---------------------------------------------------------------- exact attention (MATH 1, 17)
@pytest.mark.parametrize(("causal", "masked"), [(False, False), (True, False), (False, True), (True, True)])
def test_softmax_and_feature_attention_against_direct_float64(causal: bool, masked: bool) -> None:
    """softmax_attention = Σ_j e^{q_iᵀk_j/√d} v_j / Σ_j e^{q_iᵀk_j/√d} over allowed j (no max shift), and
    feature_attention = the same with weights φ_iᵀφ_j, to the float64 ratio-of-sums rounding bound
    (``favor_suite.reference.rounding``) of both computations; a query with no key left is NaN in both."""
    g = gen(22)
    batch, length, d, dv, f = 2, 7, 5, 3, 6
    q, k = torch.randn(2, batch, length, d, generator=g, dtype=F64) * 1.5
    v = torch.randn(batch, length, dv, generator=g, dtype=F64)
    key_mask = torch.rand(batch, length, generator=g) > 0.35 if masked else None
    if masked:
        key_mask[0, 0], key_mask[1] = False, torch.tensor([True, False, True, True, False, False, True])
    allowed = _allowed(length, causal, key_mask)
    logits = q.numpy() @ k.numpy().swapaxes(-1, -2) / math.sqrt(d)
    qf, kf = torch.exp(torch.randn(2, batch, length, f, generator=g, dtype=F64))
    cases = [
        (
            "softmax_attention",
            softmax.softmax_attention(q, k, v, causal=causal, key_mask=key_mask),
            np.exp(logits),
            np.abs(logits).max(),
            d,
        ),
        (
            "feature_attention",
            softmax.feature_attention(qf, kf, v, causal=causal, key_mask=key_mask),
            qf.numpy() @ kf.numpy().swapaxes(-1, -2),
            0.0,
            f,
        ),
    ]
    for name, got, weights, exponent, width in cases:
        expected = _direct_attention(weights, v.numpy(), allowed)
        scale = _direct_attention(weights, np.abs(v.numpy()), allowed)
        atol = 2 * rounding.ratio_of_sums_bound(width + length, float(exponent), U64) * np.nan_to_num(scale)
        assert_close(
            f"{name} vs direct float64",
            got,
            torch.as_tensor(expected),
            rtol=0.0,
            atol=torch.as_tensor(atol),
            causal=causal,
            masked=masked,
        )


def test_fourth_moments_carry_their_rounding_bound() -> None:
    """MATH 41a on the input that exposed it (thorough profile, d = 1, L = 6, ‖q̃‖, ‖k̃‖ ≤ 0.125,
    trigonometric, causal): μ₄ summed from cancelling K₄ terms came out negative, so Var((N̂ − EN̂)²)
    was negative and the test's bound NaN. With the rounding bound added, every fourth-moment field
    is at least its exact floor (2m − 2)μ₂²/m³ (μ₄ ≥ μ₂², Jensen) — up to the rounding of that floor
    itself, a few ulps (γ₄)."""
    from favor_suite import strategies

    g = strategies.generator(922, torch.device("cpu"))
    qk = strategies.structured_vectors("gaussian", 12, 1, 0.125, g)
    v = torch.randn(6, 2, generator=g, dtype=F64)
    m = 16
    for kind in ("trigonometric", "hyperbolic", "positive"):
        exact = om.output_moments(qk[:6], qk[6:], v, m, kind=kind, causal=True)
        pairs = ((exact.var_numerator, exact.var_sq_numerator), (exact.var_normalizer, exact.var_sq_normalizer))
        for var, var_sq in pairs:
            floor = (2 * m - 2) * (m * var) ** 2 / m**3
            assert bool((var_sq >= floor * (1 - rounding.gamma(4, U64))).all()), f"{kind}: {var_sq} below {floor}"
