"""Projection law and orthogonality (issue 3, properties 1-2; MATH 10, 14, 24).

Samples of one row ω_r come from independent ``sample_projection`` calls, so they are iid and
the DKWM bound gives an exact false-alarm probability (MATH 24). Every coordinate axis is
tested (random directions miss a half-space bias), for several rows at once.
Power: with n samples a law at KS distance ≥ ε(n, α) + ε(n, β) from the truth fails with
probability ≥ 1 − β; the QR-without-sign-fix defect (MATH 10) sits at distance 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from favor_suite import budget, checks
from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, assert_identical, assert_shape, fail
from favor_suite.reference.rounding import gamma, unit_roundoff
from favor_suite.reference.statistics import correlation_t_critical
from favor_suite.sampling import projections

CALLS = 400
"""Independent projections per example: DKWM ε(400, 1e-11) ≈ 0.18."""

LAWS = [
    pytest.param(False, id="iid"),
    pytest.param(True, id="orthogonal", marks=pytest.mark.requires("orthogonal")),
]


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("sample_projection")
@pytest.mark.parametrize("orthogonal", LAWS)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_coordinates_and_norms_follow_the_gaussian_law(impl, device, orthogonal, data):
    """e_kᵀω_r ~ N(0, 1) along every axis k and ‖ω_r‖ ~ χ_d, for several rows r (MATH 10, 24)."""
    d = data.draw(hh.dims(64), label="d")
    m = data.draw(hh.feature_counts(d, max_m=3 * d + 1), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    checks.projection_law(
        impl, m, d, orthogonal=orthogonal, norms="chi", gen=gen, calls=CALLS, alpha=budget.per_check(budget.TEST_ALPHA)
    )


def orthogonality_allowance(d: int, dtype: torch.dtype) -> float:
    """Acceptance criterion (deterministic; no false-alarm probability for a backward-stable QR):
    max|U_bU_bᵀ − I| ≤ γ_{d²}(u) in the dtype the sampler returned. Householder QR of a d×d matrix
    leaves an orthogonality error bounded by a small multiple of γ_{d²} (Higham, *Accuracy and
    Stability*, Thm 19.4, whose constant is unspecified; we take it as 1), and in practice O(d·u);
    rounding the rows to the output dtype and normalising them add O(u) to each Gram entry
    (|Σ_k u_ik u_jk(δ_ik + δ_jk)| ≤ 2u by Cauchy-Schwarz). The Gram matrix is formed in float64."""
    return gamma(d * d, unit_roundoff(dtype)) + 4 * unit_roundoff(dtype)


@pytest.mark.requires("sample_projection", "orthogonal")
@pytest.mark.parametrize("norms", ["chi", pytest.param("fixed", marks=pytest.mark.requires("fixed_norms"))])
@settings(max_examples=budget.statistical_examples())
@given(d=hh.dims(128), data=st.data())
def test_rows_within_a_block_are_orthogonal(impl, device, norms, d, data):
    """U_b U_bᵀ = I to rounding within each block of d rows (MATH 14); fixed norms are exactly √d."""
    m = data.draw(hh.feature_counts(d, max_m=min(512, 3 * d + 1)), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    native = impl.sample_projection(m, d, orthogonal=True, norms=norms, generator=gen)
    w = native.detach().to(dtype=torch.float64)
    assert_shape("sample_projection(m, d)", w.shape, (m, d))
    radii = w.norm(dim=-1)
    u = w / radii[:, None]
    bound = orthogonality_allowance(d, native.dtype)
    for start in range(0, m, d):
        block = u[start : start + d]
        gram = block @ block.T
        assert_close(
            f"Gram matrix of block rows {start}..{start + block.shape[0] - 1} ({norms} norms)",
            gram,
            torch.eye(block.shape[0], dtype=gram.dtype, device=gram.device),
            rtol=0.0,
            atol=bound,
            m=m,
            d=d,
        )
    if norms == "fixed":
        # ‖ω_r‖ = √d·‖u_r‖ and ‖u_r‖² is a Gram diagonal entry: within the same allowance (the norm's
        # relative error is half the squared norm's, and √d and the products add 2u, covered by 4u).
        assert_close("fixed norms ‖ω_r‖", radii, torch.full_like(radii, math.sqrt(d)), rtol=bound, m=m, d=d)


@pytest.mark.severity("contract")
@pytest.mark.requires("sample_projection")
@pytest.mark.parametrize("orthogonal", LAWS)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_sampler_draws_only_from_its_generator(impl, device, orthogonal, data):
    """``sample_projection`` is a function of (m, d, generator state): the same state gives the
    same ω bit for bit, the global RNG state is untouched, and different seeds give different ω
    (a sampler that ignores its generator, or draws from the global RNG, fails)."""
    d = data.draw(hh.dims(32), label="d")
    m = data.draw(hh.feature_counts(d, max_m=2 * d + 1), label="m")
    seed = data.draw(hh.seeds(), label="seed")
    gen = hh.generator(seed, device)
    state = gen.get_state()
    global_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    first = impl.sample_projection(m, d, orthogonal=orthogonal, norms="chi", generator=gen).detach()
    context = dict(m=m, d=d, orthogonal=orthogonal, seed=seed)
    if not torch.equal(torch.get_rng_state(), global_state) or (
        cuda_state is not None and not torch.equal(torch.cuda.get_rng_state(device), cuda_state)
    ):
        fail("sample_projection changed the global RNG state: it must draw only from its generator", **context)
    again = torch.Generator(device=device)
    again.set_state(state)
    second = impl.sample_projection(m, d, orthogonal=orthogonal, norms="chi", generator=again).detach()
    assert_identical("sample_projection from the same generator state, twice", second, first, **context)
    other = impl.sample_projection(m, d, orthogonal=orthogonal, norms="chi", generator=hh.generator(seed + 1, device))
    if torch.equal(other.detach(), first):
        fail("sample_projection gave the same ω for two different seeds: it ignores its generator", **context)


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("sample_projection", "orthogonal")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_blocks_are_independent(impl, device, data):
    """Rows r and r + d come from different blocks and must be independent: the sample
    correlation of e_kᵀω_r and e_kᵀω_{r+d} over independent calls obeys the exact t_{n−2} law
    (MATH 10: ⌈m/d⌉ *independent* blocks). A block reused for every block has correlation ±1."""
    d = data.draw(hh.dims(32), label="d")
    m = data.draw(st.integers(d + 1, 3 * d + 1), label="m")
    r = data.draw(st.integers(0, min(d, m - d) - 1), label="r")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    w = projections(impl, CALLS, m, d, orthogonal=True, norms="chi", gen=gen).cpu().numpy()
    a, b = w[:, r, :], w[:, r + d, :]
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    corr = (a * b).mean(0)
    alpha = budget.per_check(budget.TEST_ALPHA) / d
    bound = correlation_t_critical(CALLS, alpha)
    worst = int(np.argmax(np.abs(corr)))
    if not abs(corr[worst]) <= bound:
        fail(
            f"rows {r} and {r + d} (different blocks) are correlated along axis {worst}: "
            f"r = {corr[worst]:+.3f}, |r| ≤ {bound:.3f} required at α = {alpha:.1e}",
            m=m,
            d=d,
            calls=CALLS,
        )
