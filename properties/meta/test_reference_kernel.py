"""``reference.kernel_moments`` and ``reference.orf_series`` against seeded Monte Carlo and against
60-digit evaluation of their own series (MATH 5-13, 32-35). Conventions: ``_reference_mc``."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch

from favor_suite.meta._reference_mc import F64, U64, assert_mc, assert_relative, fail, gen, pair
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import orf_series, rounding
from favor_suite.reference import projections as rp

KINDS = ("positive", "hyperbolic", "trigonometric")


def _estimates(w: torch.Tensor, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """φ(x)ᵀφ(y) for the three maps of MATH 2-4, one per replicate; w: ``[n, m, d]``."""
    xt, yt = torch.as_tensor(x, dtype=F64), torch.as_tensor(y, dtype=F64)
    m = w.shape[-2]
    px, py = w @ xt, w @ yt
    hx, hy = float(xt @ xt) / 2, float(yt @ yt) / 2
    pos = torch.exp(px - hx) * torch.exp(py - hy)
    neg = torch.exp(-px - hx) * torch.exp(-py - hy)
    trig = math.exp(hx + hy) * (torch.sin(px) * torch.sin(py) + torch.cos(px) * torch.cos(py))
    return {
        "positive": (pos.sum(-1) / m).numpy(),
        "hyperbolic": ((pos + neg).sum(-1) / (2 * m)).numpy(),
        "trigonometric": (trig.sum(-1) / m).numpy(),
    }


# ---------------------------------------------------------------- kernel means and iid MSEs (MATH 5-9)
@pytest.mark.parametrize(("d", "s"), [(3, 0.25), (8, 1.0)])
def test_softmax_kernel_is_the_mean_of_one_feature_product(d: int, s: float) -> None:
    """E[φ(x)ᵀφ(y)] = SM(x, y) for one ω ~ N(0, I_d) and each of the three maps (MATH 5)."""
    x, y = pair(d, s, 0.8, seed=1)
    w = rp.iid_gaussian(1, d, gen(11), batch=(400_000,))
    for kind, est in _estimates(w, x, y).items():
        assert_mc(
            f"mean of one {kind} feature product vs softmax_kernel",
            est,
            float(km.softmax_kernel(x, y)),
            heavy_tailed=kind != "trigonometric",
            d=d,
            s=s,
        )


@pytest.mark.parametrize(("d", "m", "s", "delta2"), [(3, 4, 0.5, 1.0), (6, 2, 1.0, 0.5)])
def test_iid_mse_closed_forms(d: int, m: int, s: float, delta2: float) -> None:
    """E[(φ(x)ᵀφ(y) − SM)²] with m iid ω_r against mse_{positive,hyperbolic,trigonometric}_iid (MATH 7-9)."""
    x, y = pair(d, s, delta2, seed=2)
    sm = math.exp(float(x @ y))
    w = rp.iid_gaussian(m, d, gen(12), batch=(250_000 // m,))
    for kind, est in _estimates(w, x, y).items():
        assert_mc(
            f"iid {kind} MSE vs kernel_mse(orthogonal=False)",
            (est - sm) ** 2,
            float(km.kernel_mse(kind, x, y, m, d, orthogonal=False)),
            heavy_tailed=kind != "trigonometric",
            d=d,
            m=m,
            s=s,
            delta2=delta2,
        )


def test_hyperbolic_with_m_vectors_beats_positive_with_2m_features() -> None:
    """MSE(hyp, m vectors) < MSE(pos, 2m features) for s ∈ (0, 4]: their ratio is 1 − e^{−s} (MATH 9)."""
    for m in (1, 16):
        for s in np.concatenate([np.geomspace(1e-3, 0.1, 9), np.linspace(0.1, 4.0, 40)]):
            x, y = pair(5, float(s), 0.7, seed=3)
            hyp, pos = float(km.mse_hyperbolic_iid(x, y, m)), float(km.mse_positive_iid(x, y, 2 * m))
            if not hyp < pos:
                fail(f"MSE(hyp, m = {m}) = {hyp:.6g} not below MSE(pos, 2m) = {pos:.6g} at s = {s:.4g}")


# ---------------------------------------------------------------- orthogonal features (MATH 10-13)
@pytest.mark.parametrize(("d", "a2"), [(2, 0.5), (5, 0.5), (8, 0.3), (8, 1.0)])
def test_orf_cross_moment(d: int, a2: float) -> None:
    """Same-block pair, χ_d norms, Haar directions: E[e^{ω_rᵀa}e^{ω_r′ᵀa}] = M(d, d/2, ‖a‖²/2) and
    E[cos((ω_r + ω_r′)ᵀa)] = M(d, d/2, −‖a‖²/2) (MATH 11, the second is its value at i·a)."""
    a = torch.as_tensor(np.random.default_rng(4).standard_normal(d))
    a *= math.sqrt(a2) / a.norm()
    proj = (rp.haar_orthogonal(2, d, gen(13), batch=(1_600_000 // (2 * d),)) @ a).sum(-1)
    assert_mc(
        "same-block E[exp(ω_rᵀa + ω_r′ᵀa)] vs orf_cross_moment",
        torch.exp(proj),
        float(km.orf_cross_moment(a2, d)),
        heavy_tailed=True,
        d=d,
        a2=a2,
        iid_value=math.exp(a2),
    )
    assert_mc(
        "same-block E[cos((ω_r + ω_r′)ᵀa)] vs orf_cross_moment(−‖a‖²)",
        torch.cos(proj),
        float(km.orf_cross_moment(-a2, d)),
        d=d,
        a2=a2,
        iid_value=math.exp(-a2),
    )


ORF_CASES = [(4, 4, 0.5, 1.0), (4, 10, 0.5, 1.0), (4, 3, 0.5, 1.0), (8, 8, 1.0, 1.0)]
"""(d, m, s, ‖Δ‖²): m = d, m > d not a multiple of d, m < d, a larger d."""


@pytest.mark.parametrize(("d", "m", "s", "delta2"), ORF_CASES)
def test_orf_mse_closed_forms(d: int, m: int, s: float, delta2: float) -> None:
    """Block-orthogonal ω with χ_d norms: unbiased (MATH 5) with MSE mse_*_orf (MATH 12, 32-33); the
    same directions with fixed norms √d have mean fixed_norm_mean (MATH 13) and variance about it
    mse_positive_orf_fixed (MATH 35)."""
    x, y = pair(d, s, delta2, seed=5)
    sm, smreg = math.exp(float(x @ y)), float(km.fixed_norm_mean(x, y, d))
    n = 200_000 // m
    g = gen(14)
    directions = rp.haar_orthogonal(m, d, g, "fixed", batch=(n,)) / math.sqrt(d)
    radii = rp.iid_gaussian(m, d, g, batch=(n,)).norm(dim=-1, keepdim=True)
    ctx = dict(d=d, m=m, s=s, delta2=delta2, same_block_pairs=rp.same_block_pairs(m, d))
    for kind, est in _estimates(directions * radii, x, y).items():
        heavy = kind != "trigonometric"
        assert_mc(f"ORF {kind} mean vs SM", est, sm, heavy_tailed=heavy, **ctx)
        assert_mc(
            f"ORF {kind} MSE vs kernel_mse(orthogonal=True)",
            (est - sm) ** 2,
            float(km.kernel_mse(kind, x, y, m, d, orthogonal=True)),
            heavy_tailed=heavy,
            iid_value=float(km.kernel_mse(kind, x, y, m, d, orthogonal=False)),
            **ctx,
        )
    fixed = _estimates(directions * math.sqrt(d), x, y)["positive"]
    assert_mc("fixed-norm ORF mean vs fixed_norm_mean", fixed, smreg, sm=sm, **ctx)
    assert_mc(
        "fixed-norm ORF variance about SMREG vs mse_positive_orf_fixed",
        (fixed - smreg) ** 2,
        float(km.mse_positive_orf_fixed(x, y, m, d)),
        **ctx,
    )


@pytest.mark.parametrize(("d", "s"), [(4, 1.0), (8, 0.5), (16, 1.0)])
def test_fixed_norm_relative_bias(d: int, s: float) -> None:
    """E[Λ·e^{√d uᵀz}]/SM − 1, u uniform on the sphere, equals fixed_norm_relative_bias (MATH 13).

    Λ/SM = e^{−s/2} and uᵀz = √s·t with (t + 1)/2 ~ Beta((d−1)/2, (d−1)/2), the law of one coordinate
    of a uniform unit vector. Variance reduction, both exact in mean: u ↔ −u (cosh), and subtracting
    the χ-norm estimator e^{−s/2}·cosh(√s·ρt), ρ ~ χ_d, whose mean is exactly 1 (ρu ~ N(0, I_d))."""
    rng = np.random.default_rng(15)
    t = 2 * rng.beta((d - 1) / 2, (d - 1) / 2, 2_000_000) - 1
    rho = np.sqrt(rng.chisquare(d, t.size))
    relative = math.exp(-s / 2) * (np.cosh(math.sqrt(d * s) * t) - np.cosh(math.sqrt(s) * rho * t))
    assert_mc(
        "fixed-norm relative bias vs fixed_norm_relative_bias",
        relative,
        float(km.fixed_norm_relative_bias(s, d)),
        heavy_tailed=True,
        d=d,
        s=s,
    )


@pytest.mark.parametrize(("d", "s", "percent"), [(8, 0.5, -0.59), (4, 1.0, -3.52), (16, 1.0, -1.30)])
def test_fixed_norm_bias_printed_examples(d: int, s: float, percent: float) -> None:
    """MATH 13's printed relative biases, to the printed two decimals of a percent."""
    got = 100 * float(km.fixed_norm_relative_bias(s, d))
    if round(got, 2) != percent:
        fail(f"fixed_norm_relative_bias(s = {s}, d = {d}) = {got:.4f}%, MATH 13 prints {percent}%")


@pytest.mark.parametrize(
    ("d", "s", "printed"), [(16, 0.5, 0.847), (16, 1.0, 0.782), (64, 0.5, 0.819), (64, 1.0, 0.731)]
)
def test_orf_iid_printed_ratios(d: int, s: float, printed: float) -> None:
    """MATH 12: MSE(ort, pos)/MSE(iid, pos) at m = d, to the printed three decimals."""
    x, y = pair(d, s, 0.4, seed=7)
    ratio = float(km.mse_positive_orf(x, y, d, d) / km.mse_positive_iid(x, y, d))
    if round(ratio, 3) != printed:
        fail(f"ORF/iid MSE ratio at d = m = {d}, s = {s}: {ratio:.5f}, MATH 12 prints {printed}")


def test_orf_mse_obeys_theorem_2_gap() -> None:
    """MSE(ort) ≤ MSE(iid) − (P/m²)(2/(d+2))(SM − Λ)² ([P Thm 2], MATH 12), up to float64 rounding:
    both sides are accurate to γ_64 of their size (MATH 34; expm1 and a few products for iid)."""
    rng = np.random.default_rng(8)
    for d in (2, 4, 8, 16):
        for m in (2, d - 1 or 1, d, d + 1, 3 * d + 2):
            x, y = rng.standard_normal((2, 30, d)) * rng.uniform(0, 1.5, (2, 30, 1)) / math.sqrt(d)
            sm, lam = km.softmax_kernel(x, y), np.exp(-((x * x).sum(-1) + (y * y).sum(-1)) / 2)
            iid, orf = km.mse_positive_iid(x, y, m), km.mse_positive_orf(x, y, m, d)
            bound = iid - rp.same_block_pairs(m, d) / m**2 * 2 / (d + 2) * (sm - lam) ** 2
            slack = rounding.gamma(64, U64) * (iid + orf + np.abs(bound)) * (1 + ((x + y) ** 2).sum(-1))
            if not (orf <= bound + slack).all():
                i = int(np.argmax(orf - bound))
                fail(f"mse_positive_orf {orf[i]:.6g} above the Theorem 2 bound {bound[i]:.6g} (d = {d}, m = {m})")


# ---------------------------------------------------------------- exact series (MATH 32-35)
GROWTH = {"positive": (1.0, 2.0), "hyperbolic": (0.5, 2.0), "trigonometric": (None, 1.0), "positive_fixed": (1.0, None)}
"""MATH 34's coefficient bounds |c_n| ≤ K·Π_{k<n} g_k: (K/m, g) — trigonometric K = m + P,
positive_fixed g_k = 8/(d + 2k)."""


def _exact_series(kind: str, t: float, m: int, d: int, terms: int) -> tuple[Decimal, Decimal, int]:
    """(S, Σ|c_n|tⁿ/n!, N) at 60 digits; N is where MATH 34's stopping rule holds with u/16 in
    place of u/8, which it reaches no earlier than the float64 loop (whose partial sums agree with
    S to far better than a factor 2), so γ_{3N+2} bounds the float64 rounding."""
    k_over_m, g = GROWTH[kind]
    scale = m + rp.same_block_pairs(m, d) if k_over_m is None else k_over_m * m
    with localcontext() as ctx:
        ctx.prec = 60
        tt = Decimal(t)
        coefficients = [Decimal(num) / Decimal(den) for num, den in orf_series.orf_coefficients(kind, m, d, terms)]
        power, bound, total, absolute, bounds = Decimal(1), Decimal(scale), Decimal(0), Decimal(0), []
        for n in range(1, terms - 1):
            growth = Decimal(g) if g is not None else Decimal(8) / (d + 2 * (n - 1))
            power, bound = power * tt / n, bound * growth * tt / n
            total += coefficients[n] * power
            absolute += abs(coefficients[n] * power)
            ratio = (Decimal(g) if g is not None else Decimal(8) / (d + 2 * n)) * tt / (n + 1)
            bounds.append((n, ratio, 2 * bound * ratio))
        if not bounds[-1][2] < Decimal("1e-40") * total:
            raise AssertionError(f"exact evaluation of {kind} at t = {t} needs more than {terms} terms")
        last = next(n for n, ratio, tail in bounds if ratio <= Decimal("0.5") and tail <= Decimal(U64 / 16) * total)
        return total, absolute, last


SERIES_CASES = [(16, 16), (10, 4), (3, 8), (64, 64), (5, 1)]
"""(m, d): one full block, blocks with a remainder, m < d, a large block, d = 1 (iid)."""
POINTS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 0.3, 1.0, 3.0, 10.0, 30.0)


@pytest.mark.parametrize(("m", "d"), SERIES_CASES)
@pytest.mark.parametrize("kind", orf_series.SERIES_KINDS)
def test_orf_series_to_a_few_ulps(kind: str, m: int, d: int) -> None:
    """orf_series against the same series with exact coefficients at 60 digits, t from 1e-12 to 30:
    |Ŝ − S| ≤ γ_{3N+2}·Σ|c_n|tⁿ/n! + (u/8)|Ŝ| (MATH 34), a few ulps relative for the kinds with
    coefficients ≥ 0 and κ = Σ|terms|/S ≤ 2.2 times that for trigonometric (MATH 33). S(0) = 0 exactly
    and S(t) > 0 for t > 0: the MSE vanishes iff the estimator is deterministic."""
    terms = 96 if kind == "positive_fixed" else 192
    got = orf_series.orf_series(kind, np.array(POINTS), m, d)
    for t, value in zip(POINTS, got, strict=True):
        if t == 0:
            if value != 0.0:
                fail(f"orf_series({kind!r}, 0) = {value!r}, not exactly 0", m=m, d=d)
            continue
        exact, absolute, last = _exact_series(kind, t, m, d, terms)
        bound = rounding.gamma(3 * last + 2, U64) * float(absolute / exact) + U64 / 8 * (1 + 1e-15)
        assert_relative(f"orf_series({kind!r}) vs 60-digit series", float(value), float(exact), bound, t=t, m=m, d=d)


def test_orf_mse_small_s_examples() -> None:
    """d = m = 16, x = 0, ‖y‖² = s: the trigonometric ORF MSE is (1/m²)·f₂s²/2 + O(s³) with
    f₂ = m − P/(d + 2) = 8/3, i.e. 5.2e-19 at s = 1e-8 and 5.2e-23 at s = 1e-10 (MATH 33), where
    the closed form of MATH 12 returned 3.1e-18 and 2.1e-16; all kinds stay finite at s = 50."""
    for s, printed in ((1e-8, 5.2e-19), (1e-10, 5.2e-23)):
        y = np.full(16, math.sqrt(s / 16))
        got = float(km.kernel_mse("trigonometric", np.zeros(16), y, 16, 16, orthogonal=True))
        if f"{got:.1e}" != f"{printed:.1e}":
            fail(f"trigonometric ORF MSE at s = {s}: {got:.4g}, MATH 33 prints {printed:.1e}")
    x, y = pair(8, 50.0, 50.0, seed=9)
    for kind in KINDS:
        got = km.kernel_mse(kind, x, y, 8, 8, orthogonal=True)
        if not (np.isfinite(got) and got > 0):
            fail(f"kernel_mse({kind!r}, orthogonal=True) at s = ‖Δ‖² = 50 is {got}")
