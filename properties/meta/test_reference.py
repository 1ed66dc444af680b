"""``reference/`` against seeded Monte Carlo drawn here with torch/numpy, never through ``favor``.

Every statistical check reads: Monte-Carlo estimate ± z·se against the closed form, where se is the
standard error *computed from the samples* (a binomial law for counts) and z is
``normal_critical(ALPHA)`` with ALPHA = 1e-9 per check. Means of log-normal-tailed quantities use
``z_test_critical(ALPHA)`` instead, i.e. the MATH 25 heavy-tail factor; counts use the exact
binomial quantiles at ALPHA. Seeds are fixed, so the verdict is deterministic; ALPHA says how
unlikely a false alarm would be under a fresh seed. Projections are drawn here: iid rows N(0, I_d),
and orthogonal blocks by QR with the sign fix (MATH 10, [M]) and independent χ_d norms.
Exact (non-random) comparisons use float64 rounding bounds from :mod:`favor_suite.reference.rounding`.

Longer than the house ~300 lines on purpose: one area (the reference's own truths), one file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from torch.utils.flop_counter import FlopCounterMode

import favor
from favor_suite.assertions import PropertyViolation, assert_close, fmt_context
from favor_suite.reference import cost, rounding, softmax
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import output_moments as om
from favor_suite.reference import statistics as st

ALPHA = 1e-9
"""False-alarm probability of one statistical check."""
Z = st.normal_critical(ALPHA)
Z_HEAVY = st.z_test_critical(ALPHA)
F64 = torch.float64
U64 = rounding.unit_roundoff(F64)


# ---------------------------------------------------------------- helpers
def _assert_mc(what: str, samples: object, expected: float, *, heavy_tailed: bool = False, **context: object) -> None:
    """|mean(samples) − expected| ≤ z·se, se = sample sd/√n, z at ALPHA (heavy tails: ALPHA/10)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    mean, se = float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)
    _assert_band(what, mean, se, expected, expected, z=Z_HEAVY if heavy_tailed else Z, n=x.size, **context)


def _assert_band(
    what: str, estimate: float, se: float, low: float, high: float, *, z: float = Z, **context: object
) -> None:
    """low − z·se ≤ estimate ≤ high + z·se ([low, high] is a stated model band, or one point)."""
    if not low - z * se <= estimate <= high + z * se:
        target = f"{low:.6g}" if low == high else f"[{low:.6g}, {high:.6g}]"
        outside = (estimate - (low if estimate < low else high)) / se
        _raise(
            f"{what}: Monte Carlo {estimate:.6g} ± {se:.3g} (se) vs closed form {target}, "
            f"z = {outside:.2f}, |z| ≤ {z:.2f} required at α = {ALPHA:.0e}",
            **context,
        )


def _assert_count(what: str, hits: int, trials: int, p: float, *, at_most: bool = False, **context: object) -> None:
    """hits ~ Binomial(trials, p) (≤ p if ``at_most``): exact binomial acceptance region at ALPHA."""
    law = stats.binom(trials, p)
    high = int(law.isf(ALPHA if at_most else ALPHA / 2))
    low = 0 if at_most else int(law.ppf(ALPHA / 2))
    if not low <= hits <= high:
        _raise(
            f"{what}: {hits} of {trials} vs Binomial({trials}, {'≤ ' if at_most else ''}{p:.4g}), "
            f"acceptance [{low}, {high}] at α = {ALPHA:.0e}",
            **context,
        )


def _raise(headline: str, **context: object) -> None:
    raise PropertyViolation(headline + ("\n" + fmt_context(**context) if context else ""))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pair(d: int, s: float, delta2: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y ∈ ℝ^d with ‖x + y‖² = s and ‖x − y‖² = delta2, random directions."""
    z, delta = np.random.default_rng(seed).standard_normal((2, d))
    z *= math.sqrt(s) / np.linalg.norm(z)
    delta *= math.sqrt(delta2) / np.linalg.norm(delta)
    return (z + delta) / 2, (z - delta) / 2


def _haar_rows(shape: tuple[int, ...], d: int, columns: int, gen: torch.Generator) -> torch.Tensor:
    """``[*shape, columns, d]``: the first ``columns`` rows of Haar-orthogonal d×d matrices,
    G = QR, Q ← Q·diag(sign(diag R)) (MATH 10, [M]); the reduced QR gives the same columns."""
    q, r = torch.linalg.qr(torch.randn(*shape, d, columns, generator=gen, dtype=F64))
    return (q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)).transpose(-2, -1)


def _chi(shape: tuple[int, ...], d: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, d, generator=gen, dtype=F64).norm(dim=-1)


def _orf_directions(n: int, m: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """``[n, m, d]``: ⌈m/d⌉ independent Haar blocks per replicate, first m rows."""
    blocks = -(-m // d)
    return _haar_rows((n, blocks), d, d, gen).reshape(n, blocks * d, d)[:, :m]


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


def _relative_gerf_variance(a: float, s: float, d: int) -> float:
    """Closed-form one-feature variance of GERF over SM², via ``gerf_second_moment`` (MATH 22)."""
    x, y = _pair(d, s, 0.3, 0)
    return float(km.gerf_second_moment(x, y, a) / km.softmax_kernel(x, y) ** 2 - 1)


# ---------------------------------------------------------------- kernel means and iid MSEs (MATH 5-9)
@pytest.mark.parametrize(("d", "s"), [(3, 0.25), (8, 1.0)])
def test_softmax_kernel_is_the_mean_of_one_feature_product(d: int, s: float) -> None:
    """E[φ(x)ᵀφ(y)] = SM(x, y) for one ω ~ N(0, I_d) and each of the three maps (MATH 5)."""
    x, y = _pair(d, s, 0.8, seed=1)
    w = torch.randn(400_000, 1, d, generator=_gen(11), dtype=F64)
    for kind, est in _estimates(w, x, y).items():
        _assert_mc(
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
    x, y = _pair(d, s, delta2, seed=2)
    sm = math.exp(float(x @ y))
    w = torch.randn(250_000 // m, m, d, generator=_gen(12), dtype=F64)
    for kind, est in _estimates(w, x, y).items():
        closed = float(km.kernel_mse(kind, x, y, m, d, orthogonal=False))
        _assert_mc(
            f"iid {kind} MSE vs mse_{kind[:4]}…_iid",
            (est - sm) ** 2,
            closed,
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
            x, y = _pair(5, float(s), 0.7, seed=3)
            hyp, pos = float(km.mse_hyperbolic_iid(x, y, m)), float(km.mse_positive_iid(x, y, 2 * m))
            if not hyp < pos:
                _raise(f"MSE(hyp, m = {m}) = {hyp:.6g} not below MSE(pos, 2m) = {pos:.6g} at s = {s:.4g}")


# ---------------------------------------------------------------- orthogonal features (MATH 10-13)
@pytest.mark.parametrize(("d", "a2"), [(2, 0.5), (5, 0.5), (8, 0.3), (8, 1.0)])
def test_orf_cross_moment(d: int, a2: float) -> None:
    """Same-block pair, χ_d norms, Haar directions: E[e^{ω_rᵀa}e^{ω_r′ᵀa}] = M(d, d/2, ‖a‖²/2) and
    E[cos((ω_r + ω_r′)ᵀa)] = M(d, d/2, −‖a‖²/2) (MATH 11, the second is its value at i·a)."""
    n = 1_600_000 // (2 * d)
    gen = _gen(13)
    a = torch.as_tensor(np.random.default_rng(4).standard_normal(d))
    a *= math.sqrt(a2) / a.norm()
    w = _haar_rows((n,), d, 2, gen) * _chi((n, 2), d, gen).unsqueeze(-1)
    proj = w @ a
    _assert_mc(
        "same-block E[exp(ω_rᵀa + ω_r′ᵀa)] vs orf_cross_moment",
        torch.exp(proj.sum(-1)),
        float(km.orf_cross_moment(a2, d)),
        heavy_tailed=True,
        d=d,
        a2=a2,
        iid_value=math.exp(a2),
    )
    _assert_mc(
        "same-block E[cos((ω_r + ω_r′)ᵀa)] vs orf_cross_moment(−‖a‖²)",
        torch.cos(proj.sum(-1)),
        float(km.orf_cross_moment(-a2, d)),
        d=d,
        a2=a2,
        iid_value=math.exp(-a2),
    )


ORF_CASES = [(4, 4, 0.5, 1.0), (4, 10, 0.5, 1.0), (4, 3, 0.5, 1.0), (8, 8, 1.0, 1.0)]
"""(d, m, s, ‖Δ‖²): m = d, m > d not a multiple of d, m < d, a larger d."""


@pytest.mark.parametrize(("d", "m", "s", "delta2"), ORF_CASES)
def test_orf_mse_closed_forms(d: int, m: int, s: float, delta2: float) -> None:
    """Block-orthogonal ω with χ_d norms: unbiased (MATH 5) with MSE mse_*_orf (MATH 12); the same
    directions with fixed norms √d have mean fixed_norm_mean (MATH 13) and variance about it
    mse_positive_orf_fixed."""
    x, y = _pair(d, s, delta2, seed=5)
    sm, smreg = math.exp(float(x @ y)), float(km.fixed_norm_mean(x, y, d))
    n = 200_000 // m
    gen = _gen(14)
    u = _orf_directions(n, m, d, gen)
    chi = _estimates(u * _chi((n, m), d, gen).unsqueeze(-1), x, y)
    ctx = dict(d=d, m=m, s=s, delta2=delta2, same_block_pairs=km.same_block_pairs(m, d))
    for kind, est in chi.items():
        heavy = kind != "trigonometric"
        _assert_mc(f"ORF {kind} mean vs SM", est, sm, heavy_tailed=heavy, **ctx)
        closed = float(km.kernel_mse(kind, x, y, m, d, orthogonal=True))
        _assert_mc(
            f"ORF {kind} MSE vs mse_{kind[:4]}…_orf",
            (est - sm) ** 2,
            closed,
            heavy_tailed=heavy,
            iid_value=float(km.kernel_mse(kind, x, y, m, d, orthogonal=False)),
            **ctx,
        )
    fixed = _estimates(u * math.sqrt(d), x, y)["positive"]
    _assert_mc("fixed-norm ORF mean vs fixed_norm_mean", fixed, smreg, sm=sm, **ctx)
    _assert_mc(
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
    _assert_mc(
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
        _raise(f"fixed_norm_relative_bias(s = {s}, d = {d}) = {got:.4f}%, MATH 13 prints {percent}%")


@pytest.mark.parametrize(
    ("d", "s", "printed"), [(16, 0.5, 0.847), (16, 1.0, 0.782), (64, 0.5, 0.819), (64, 1.0, 0.731)]
)
def test_orf_iid_printed_ratios(d: int, s: float, printed: float) -> None:
    """MATH 12: MSE(ort, pos)/MSE(iid, pos) at m = d, to the printed three decimals."""
    x, y = _pair(d, s, 0.4, seed=7)
    ratio = float(km.mse_positive_orf(x, y, d, d) / km.mse_positive_iid(x, y, d))
    if round(ratio, 3) != printed:
        _raise(f"ORF/iid MSE ratio at d = m = {d}, s = {s}: {ratio:.5f}, MATH 12 prints {printed}")


def test_orf_mse_obeys_theorem_2_gap() -> None:
    """MSE(ort) ≤ MSE(iid) − (P/m²)(2/(d+2))(SM − Λ)² ([P Thm 2], MATH 12), up to float64 rounding."""
    rng = np.random.default_rng(8)
    for d in (2, 4, 8, 16):
        for m in (2, d - 1 or 1, d, d + 1, 3 * d + 2):
            x, y = rng.standard_normal((2, 30, d)) * rng.uniform(0, 1.5, (2, 30, 1)) / math.sqrt(d)
            sm, lam = km.softmax_kernel(x, y), np.exp(-((x * x).sum(-1) + (y * y).sum(-1)) / 2)
            bound = km.mse_positive_iid(x, y, m) - km.same_block_pairs(m, d) / m**2 * 2 / (d + 2) * (sm - lam) ** 2
            iid, orf = km.mse_positive_iid(x, y, m), km.mse_positive_orf(x, y, m, d)
            size = 1 + ((x + y) ** 2).sum(-1)
            slack = rounding.gamma(64, U64) * (iid + np.abs(orf - iid) + np.abs(bound - iid)) * size
            if not (orf <= bound + slack).all():
                i = int(np.argmax(orf - bound))
                _raise(f"mse_positive_orf {orf[i]:.6g} above the Theorem 2 bound {bound[i]:.6g} (d = {d}, m = {m})")


# ---------------------------------------------------------------- variance tests (MATH 27)
@pytest.mark.parametrize(("s", "m"), [(0.1, 1), (0.1, 4), (0.05, 16)])
def test_lognormal_kurtosis_gives_the_variance_of_the_mse_ratio(s: float, m: int) -> None:
    """With t = (φ(x)ᵀφ(y) − SM)²/MSE(pos), E[(t − 1)²] = 2 + κ/m exactly for m iid features (the
    fourth central moment of a mean), hence Var r̂ = (2 + κ/m)/N (MATH 27); κ from
    lognormal_excess_kurtosis. At m = 1 this is the empirical kurtosis of the log-normal (MATH 6)."""
    x, y = _pair(2, s, 0.5, seed=9)
    w = torch.randn(1_000_000 // m, m, 2, generator=_gen(16), dtype=F64)
    t = (_estimates(w, x, y)["positive"] - math.exp(float(x @ y))) ** 2 / float(km.mse_positive_iid(x, y, m))
    _assert_mc(
        "E[(t − 1)²] vs 2 + lognormal_excess_kurtosis/m",
        (t - 1) ** 2,
        2 + float(km.lognormal_excess_kurtosis(s)) / m,
        heavy_tailed=True,
        s=s,
        m=m,
    )


# ---------------------------------------------------------------- GERF (MATH 21-23)
@pytest.mark.parametrize("a", [-0.5, -0.15, 0.0, 0.02])
def test_gerf_moments(a: float) -> None:
    """f(ω,x) = D·exp(A‖ω‖² + Bωᵀx − ‖x‖²/2): E[f f] = SM (MATH 21), E[(f f)²] = gerf_second_moment and
    the m-feature MSE = mse_gerf_iid (MATH 22). A ≤ 0.02 keeps the eighth moment the se needs finite."""
    d, m = 4, 4
    x, y = _pair(d, 0.5, 0.5, seed=10)
    sm = math.exp(float(x @ y))
    w = torch.randn(800_000 // d, d, generator=_gen(17), dtype=F64)
    b, dd = math.sqrt(1 - 4 * a), (1 - 4 * a) ** (d / 4)

    def f(v: np.ndarray) -> torch.Tensor:
        return dd * torch.exp(a * w.square().sum(-1) + b * (w @ torch.as_tensor(v)) - float(v @ v) / 2)

    p = (f(x) * f(y)).numpy()
    _assert_mc("GERF one-feature mean vs SM", p, sm, heavy_tailed=True, a=a)
    _assert_mc(
        "GERF E[(f f)²] vs gerf_second_moment", p**2, float(km.gerf_second_moment(x, y, a)), heavy_tailed=True, a=a
    )
    est = p.reshape(-1, m).mean(-1)
    _assert_mc(
        "GERF m-feature MSE vs mse_gerf_iid",
        (est - sm) ** 2,
        float(km.mse_gerf_iid(x, y, a, m)),
        heavy_tailed=True,
        a=a,
        m=m,
    )


def test_gerf_at_a_zero_is_the_positive_mse() -> None:
    """mse_gerf_iid(A = 0) = mse_positive_iid (MATH 21: A = 0 is φ⁺); an inadmissible A is refused."""
    for s in (0.1, 1.0, 3.0):
        x, y = _pair(6, s, 0.9, seed=11)
        condition = (1 + 2 * s + float(x @ x + y @ y)) * math.exp(s) / math.expm1(s)
        assert_close(
            "mse_gerf_iid(A = 0) vs mse_positive_iid",
            torch.as_tensor(km.mse_gerf_iid(x, y, 0.0, 8)),
            torch.as_tensor(km.mse_positive_iid(x, y, 8)),
            rtol=rounding.gamma(16, U64) * condition,
            s=s,
        )
    with pytest.raises(ValueError, match="1 - 8A"):
        km.gerf_second_moment(x, y, 0.125)


@pytest.mark.parametrize(("s", "d"), [(0.5, 4), (2.76, 8), (6.0, 16), (1.0, 64), (0.01, 2)])
def test_optimal_gerf_a_minimises_the_closed_form_variance(s: float, d: int) -> None:
    """optimal_gerf_a(s/d) is the minimiser over admissible A of the relative variance of MATH 22:
    no grid point beats it, and a bounded scalar minimiser lands on it (MATH 23)."""
    a_star = float(km.optimal_gerf_a(s / d))
    best = _relative_gerf_variance(a_star, s, d)
    grid = np.linspace(-2.0, 0.124, 425)
    with np.errstate(over="ignore"):  # near A = 1/8 the variance is +inf, never the minimum
        values = np.array([_relative_gerf_variance(float(a), s, d) for a in grid])
    slack = rounding.gamma(64, U64) * (1 + best) * (1 + 2 * s + d)
    if not best <= values.min() + slack:
        _raise(
            f"optimal_gerf_a = {a_star:.6f} gives {best:.6g}, grid A = {grid[values.argmin()]:.4f} gives "
            f"{values.min():.6g} (s = {s}, d = {d})"
        )
    found = optimize.minimize_scalar(
        lambda a: _relative_gerf_variance(a, s, d), bounds=(-2.0, 0.124), method="bounded", options={"xatol": 1e-10}
    ).x
    if not abs(found - a_star) <= 1e-4 * (1 + abs(a_star)):
        _raise(f"numerical minimiser A = {found:.8f} vs optimal_gerf_a = {a_star:.8f} (s = {s}, d = {d})")


def test_optimal_gerf_a_math_23_example() -> None:
    """s = 2.76, d = 8: relative variance e^s − 1 = 14.80 at A = 0 and 5.36 at A* (MATH 23).
    MATH 23 prints 14.77 for A = 0, which is e^{2.758} − 1: s printed rounded; 14.80 is asserted."""
    s, d = 2.76, 8
    at_zero = _relative_gerf_variance(0.0, s, d)
    at_star = _relative_gerf_variance(float(km.optimal_gerf_a(s / d)), s, d)
    if not (round(at_zero, 2) == 14.80 and round(at_star, 2) == 5.36):
        _raise(
            f"relative GERF variance at s = 2.76, d = 8: {at_zero:.4f} (A = 0), {at_star:.4f} (A*); "
            f"expected 14.80 and 5.36"
        )


# ---------------------------------------------------------------- the ratio estimator (MATH 20)
MODEL_BAND = (0.93, 1.00)
"""MATH 20: at m ≥ 32 the true Var Ŷ lies within 0.93-1.00 of the delta-method variance."""


def _small_problem(seed: int, s_max: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k ``[6, 4]`` with ‖q̃‖, ‖k̃‖ ∈ [½, 1]·√s_max/2 (so every s_ij ≤ s_max, MATH 28), v ``[6, 2]``."""
    g = _gen(seed)
    q, k = torch.randn(2, 6, 4, generator=g, dtype=F64)
    radius = math.sqrt(s_max) / 2 * 4**0.25 * (0.5 + 0.5 * torch.rand(2, 6, 1, generator=g, dtype=F64))
    v = torch.randn(6, 2, generator=g, dtype=F64)
    return q / q.norm(dim=-1, keepdim=True) * radius[0], k / k.norm(dim=-1, keepdim=True) * radius[1], v


def _direct_attention(weights: np.ndarray, v: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Σ_j w_ij v_j / Σ_j w_ij over allowed j, NaN for a row with no allowed key."""
    w = np.where(allowed, weights, 0.0)
    with np.errstate(invalid="ignore"):
        return (w @ v) / w.sum(-1, keepdims=True)


def _allowed(length: int, causal: bool, key_mask: torch.Tensor | None) -> np.ndarray:
    allowed = np.tril(np.ones((length, length), bool)) if causal else np.ones((length, length), bool)
    return allowed & (key_mask.numpy()[..., None, :] if key_mask is not None else True)


@pytest.mark.parametrize(("causal", "masked"), [(False, False), (False, True), (True, False)])
def test_delta_method_moments(causal: bool, masked: bool) -> None:
    """Bias and variance of Ŷ_ic = N̂_ic/D̂_i with m = 64 iid positive features (8000 replicates of the
    actual ratio estimator) against delta_method_moments (MATH 20).

    Variance: the sample variance lies in [0.93, 1.00]·(delta variance) ± Z·se(sample variance); the
    band is MATH 20's stated model error at m ≥ 32. Bias: the mean of Ŷ − y − (N̂ − y·D̂)/D (the
    subtracted linear term has mean exactly 0 because N̂ and D̂ are unbiased, MATH 17; it cuts the se
    about tenfold; its samples carry log-normal tails, hence z_test_critical) lies within ±7 % of the
    delta bias ± z·se. MATH 20 states no accuracy for the bias;
    the variance's 7 % is assumed for it (measured here at 10⁵ replicates: ratio 0.94-1.01).
    MATH 20's band needs small s, and every s_ij ≤ 1 here: at s_max ≈ 2.2, m = 64 the variance ratio
    was measured at 0.74-0.92. Causal row 0 has one key, Ŷ_0 = v_0 exactly, and is skipped."""
    q, k, v = _small_problem(seed=20)
    m, n, d = 64, 8000, q.shape[-1]
    key_mask = torch.tensor([True, True, False, True, True, True]) if masked else None
    allowed = _allowed(6, causal, key_mask)
    weights = np.where(allowed, np.exp(q.numpy() @ k.numpy().T / math.sqrt(d)), 0.0)
    y, denom = _direct_attention(weights, v.numpy(), allowed), weights.sum(-1, keepdims=True)
    w = torch.randn(n, m, d, generator=_gen(21), dtype=F64)

    def phi(x: torch.Tensor) -> torch.Tensor:
        x = x * d**-0.25
        return torch.exp(x @ w.transpose(-2, -1) - x.square().sum(-1, keepdim=True) / 2) / math.sqrt(m)

    a_hat = (phi(q) @ phi(k).transpose(-2, -1) * torch.as_tensor(allowed)).numpy()
    num_hat, den_hat = a_hat @ v.numpy(), a_hat.sum(-1, keepdims=True)
    y_hat = num_hat / den_hat
    bias_samples = y_hat - y - (num_hat - y * den_hat) / denom
    sq = (y_hat - y_hat.mean(0)) ** 2 * n / (n - 1)
    bias, var = (t.numpy() for t in om.delta_method_moments(q, k, v, m, causal=causal, key_mask=key_mask))
    for i in range(1 if causal else 0, 6):
        for c in range(2):
            ctx = dict(row=i, column=c, causal=causal, masked=masked, m=m, replicates=n)
            band = (1 - MODEL_BAND[0]) * abs(bias[i, c])
            _assert_band(
                "MC bias of Ŷ vs delta_method_moments bias (±7 %)",
                bias_samples[:, i, c].mean(),
                bias_samples[:, i, c].std(ddof=1) / math.sqrt(n),
                bias[i, c] - band,
                bias[i, c] + band,
                z=Z_HEAVY,
                **ctx,
            )
            _assert_band(
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
    g = _gen(22)
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


# ---------------------------------------------------------------- FLOP counts (MATH 29-31)
def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize(
    ("length", "d", "m", "dv", "feature_kind", "causal", "chunk"),
    [
        (16, 4, 8, 3, "positive", False, 128),
        (16, 4, 8, 3, "hyperbolic", False, 128),
        (21, 6, 5, 2, "trigonometric", False, 128),
        (19, 4, 6, 2, "gerf", False, 128),
        (20, 4, 6, 2, "positive", True, 8),
        (33, 8, 16, 5, "hyperbolic", True, 16),
        (17, 3, 4, 1, "trigonometric", True, 64),
        (40, 4, 8, 2, "positive", True, 10),
    ],
)
def test_favor_forward_flops(length: int, d: int, m: int, dv: int, feature_kind: str, causal: bool, chunk: int) -> None:
    """FlopCounterMode around favor.favor_attention (batch 2) = 2 × favor_forward_flops (MATH 29-31)."""
    g = _gen(23)
    q, k = torch.randn(2, 2, length, d, generator=g)
    v, w = torch.randn(2, length, dv, generator=g), torch.randn(m, d, generator=g)
    got = _flops(lambda: favor.favor_attention(q, k, v, w, kind=feature_kind, causal=causal, chunk_size=chunk))
    expected = 2 * cost.favor_forward_flops(length, d, m, dv, kind=feature_kind, causal=causal, chunk_size=chunk)
    if got != expected:
        _raise(
            f"FlopCounterMode counted {got} FLOPs, favor_forward_flops × batch gives {expected}",
            length=length,
            d=d,
            m=m,
            dv=dv,
            kind=feature_kind,
            causal=causal,
            chunk_size=chunk,
        )


@pytest.mark.parametrize(("lq", "lk", "d", "dv"), [(8, 8, 4, 4), (5, 13, 7, 2)])
def test_exact_attention_flops(lq: int, lk: int, d: int, dv: int) -> None:
    """FlopCounterMode around softmax(QKᵀ/√d)V = exact_attention_flops (MATH 29)."""
    g = _gen(24)
    q, k, v = torch.randn(lq, d, generator=g), torch.randn(lk, d, generator=g), torch.randn(lk, dv, generator=g)
    got = _flops(lambda: torch.softmax(q @ k.T / math.sqrt(d), dim=-1) @ v)
    expected = cost.exact_attention_flops(lq, lk, d, dv)
    if got != expected:
        _raise(f"FlopCounterMode counted {got} FLOPs, exact_attention_flops gives {expected}", lq=lq, lk=lk, d=d, dv=dv)


# ---------------------------------------------------------------- statistics (MATH 24-27)
@pytest.mark.parametrize("n", [20, 400])
def test_dkwm_epsilon_bounds_the_ks_exceedance_rate(n: int) -> None:
    """Over 2000 sets of n uniforms, sup|F_n − F| > dkwm_epsilon(n, 0.05) at rate ≤ 0.05 (MATH 24):
    the exceedance count is at most the Binomial(2000, 0.05) upper quantile at ALPHA. ks_distance
    agrees with scipy's KS statistic."""
    sets, level = 2000, 0.05
    x = np.sort(np.random.default_rng(30).random((sets, n)), axis=1)
    i = np.arange(1, n + 1)
    ks = np.maximum(i / n - x, x - (i - 1) / n).max(axis=1)
    _assert_count(
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
    g = np.random.default_rng(31).normal(0.0, sigma, n)
    sin2 = np.sin(g) ** 2
    for t in (0.02, 0.2, 0.5, 0.8, 0.98):
        _assert_count(
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
    _assert_count(
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
        _raise("bounded_mean_interval: an interval is not ordered inside [low, high]", law=law)
    misses = int(((truth < intervals[:, 0]) | (truth > intervals[:, 1])).sum())
    _assert_count("bounded_mean_interval misses of the true mean", misses, sets, level, at_most=True, law=law)
