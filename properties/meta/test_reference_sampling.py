"""The suite's own projections and feature maps — ``reference.projections``, ``reference.features`` —
against their exact laws, their means, and ``favor`` (MATH 2-5, 10, 14, 21, 42).
Conventions: ``_reference_mc``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import favor
from favor_suite.assertions import assert_close
from favor_suite.meta._reference_mc import ALPHA, F64, U64, assert_mc, fail, gen, pair
from favor_suite.reference import features as rf
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import projections as rp
from favor_suite.reference import rounding
from favor_suite.reference import statistics as st


def _law(what: str, samples: np.ndarray, cdf, alpha: float, **context: object) -> None:
    """KS distance of every column of ``samples`` ``[n, k]`` to ``cdf`` within the DKWM ε at α/k (MATH 24)."""
    distance = st.ks_distance(samples, cdf)
    eps = st.dkwm_epsilon(samples.shape[0], alpha / distance.size)
    if not (distance <= eps).all():
        fail(f"{what}: KS distance {distance.max():.4g} > DKWM ε {eps:.4g} at α = {alpha:.0e}", **context)


@pytest.mark.parametrize(("m", "d", "orthogonal"), [(5, 3, False), (7, 3, True), (3, 8, True), (16, 16, True)])
def test_projection_rows_are_standard_gaussian(m: int, d: int, orthogonal: bool) -> None:
    """Over 4000 draws, every coordinate e_kᵀω_r of rows 0, ⌊m/2⌋, m − 1 is N(0, 1) and ‖ω_r‖ ~ χ_d
    (MATH 10: without the QR sign fix the first row's coordinates are confined to a half-space),
    by KS within DKWM at ALPHA (MATH 24); float64 on the generator's device."""
    w = (
        rp.haar_orthogonal(m, d, gen(60), batch=(4000,))
        if orthogonal
        else rp.iid_gaussian(m, d, gen(60), batch=(4000,))
    )
    if w.shape != (4000, m, d) or w.dtype != F64:
        fail(f"projection shape/dtype {tuple(w.shape)}, {w.dtype}; expected (4000, {m}, {d}), float64")
    rows = sorted({0, m // 2, m - 1})
    ctx = dict(m=m, d=d, orthogonal=orthogonal)
    _law("coordinates vs N(0, 1)", w[:, rows, :].reshape(4000, -1).numpy(), stats.norm.cdf, ALPHA / 2, **ctx)
    _law(f"norms vs χ_{d}", w[:, rows, :].norm(dim=-1).numpy(), stats.chi(d).cdf, ALPHA / 2, **ctx)


@pytest.mark.parametrize(("m", "d"), [(10, 4), (3, 8), (16, 16)])
def test_orthogonal_blocks(m: int, d: int) -> None:
    """Rows of one block (``block_sizes``) are orthonormal directions to γ_{d²} + 4u (Householder QR,
    Higham Thm 19.4, MATH 14); fixed norms are √d to γ_{d+2}; rows of different blocks are
    independent: the squared cosine of rows 0 and d has mean 1/d, that of a uniform direction pair."""
    w = rp.haar_orthogonal(m, d, gen(61), "fixed")
    u = w / math.sqrt(d)
    start = 0
    for size in rp.block_sizes(m, d):
        block = u[start : start + size]
        assert_close(
            f"Gram matrix of block rows {start}..{start + size - 1}",
            block @ block.T,
            torch.eye(size, dtype=F64),
            rtol=0.0,
            atol=rounding.gamma(d * d, U64) + 4 * U64,
            m=m,
            d=d,
        )
        start += size
    if sum(rp.block_sizes(m, d)) != m or rp.same_block_pairs(m, d) != sum(n * (n - 1) for n in rp.block_sizes(m, d)):
        fail(f"block_sizes({m}, {d}) = {rp.block_sizes(m, d)} inconsistent with m or same_block_pairs")
    assert_close(
        "fixed norms", w.norm(dim=-1), torch.full((m,), math.sqrt(d), dtype=F64), rtol=rounding.gamma(d + 2, U64)
    )
    if m > d:
        many = rp.haar_orthogonal(m, d, gen(62), "fixed", batch=(20_000,)) / math.sqrt(d)
        assert_mc(
            "E[(u_0ᵀu_d)²] across blocks vs 1/d", ((many[:, 0] * many[:, d]).sum(-1) ** 2).numpy(), 1 / d, m=m, d=d
        )


def test_feature_width() -> None:
    """2m features for hyperbolic and trigonometric, m otherwise (MATH 2-4, 21); unknown kinds and a
    gerf_a for another kind are refused."""
    widths = {kind: rf.feature_width(kind, 5) for kind in rf.FEATURE_KINDS}
    if widths != {"positive": 5, "hyperbolic": 10, "trigonometric": 10, "gerf": 5}:
        fail(f"feature_width(kind, 5) = {widths}")
    with pytest.raises(ValueError, match="kind"):
        rf.feature_width("cosine", 5)
    with pytest.raises(ValueError, match="gerf_a"):
        rf.feature_map(torch.zeros(2), torch.zeros(3, 2), kind="positive", gerf_a=0.1)
    with pytest.raises(ValueError, match="A < 1/4"):
        rf.feature_map(torch.zeros(2), torch.zeros(3, 2), kind="gerf", gerf_a=0.25)


KIND_OPTIONS = [("positive", None), ("hyperbolic", None), ("trigonometric", None), ("gerf", -0.2)]


@pytest.mark.parametrize("orthogonal", [False, True])
@pytest.mark.parametrize(("kind", "a"), KIND_OPTIONS)
def test_reference_features_are_unbiased(kind: str, a: float | None, orthogonal: bool) -> None:
    """E[φ(x)ᵀφ(y)] = SM(x, y) (MATH 5) for the naive maps, m = 4 rows, 50 000 projections, iid or
    block-orthogonal (d = 3, so two blocks) with χ norms: z-test at α/10 (MATH 25)."""
    x, y = (torch.as_tensor(v) for v in pair(3, 0.5, 0.8, seed=63))
    draw = rp.haar_orthogonal if orthogonal else rp.iid_gaussian
    w = draw(4, 3, gen(64), batch=(50_000,))
    estimates = (rf.feature_map(x, w, kind=kind, gerf_a=a) * rf.feature_map(y, w, kind=kind, gerf_a=a)).sum(-1)
    assert_mc(
        f"{kind} φ(x)ᵀφ(y) vs SM",
        estimates.numpy(),
        float(km.softmax_kernel(x, y)),
        heavy_tailed=True,
        orthogonal=orthogonal,
    )


@pytest.mark.parametrize(("kind", "a"), KIND_OPTIONS)
def test_reference_features_equal_favor(kind: str, a: float | None) -> None:
    """reference.features.feature_map = favor.feature_map to float64 rounding: each computes exp of
    a log-feature of d + 3 terms whose sizes sum to E = ‖ω‖‖x‖ + ‖x‖²/2 + ½ln(2m) + |A|‖ω‖² + |ln D|,
    favor with a stabilizer c ≤ E subtracted and exp(c) multiplied back; each is within
    feature_error(d, 2E) of the exact feature (Higham Lemma 3.1), plus γ₂ for the extra exp and
    product — relative to the feature for the exp kinds, to e^{‖x‖²/2}/√m for trigonometric."""
    g = gen(65)
    for d, m in ((3, 4), (16, 8), (64, 33)):
        x = torch.randn(5, d, generator=g, dtype=F64) * 0.8
        w = rp.haar_orthogonal(m, d, g)
        ours = rf.feature_map(x, w, kind=kind, gerf_a=a)
        theirs = favor.feature_map(x, w, kind=kind, **({} if a is None else {"gerf_a": a})).double()
        half = x.square().sum(-1, keepdim=True) / 2
        size = float(w.norm(dim=-1).max() * x.norm(dim=-1).max() + half.max() + math.log(2 * m) / 2)
        if a is not None:
            size += abs(a) * float(w.square().sum(-1).max()) + abs(d / 4 * math.log1p(-4 * a))
        scale = torch.exp(half) / math.sqrt(m) if kind == "trigonometric" else ours.abs()
        error = 2 * rounding.feature_error(d, 2 * size, U64) + rounding.gamma(2, U64)
        assert_close(f"{kind} features vs favor.feature_map", theirs, ours, rtol=0.0, atol=error * scale, d=d, m=m)
