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

from properties import budget, checks
from properties import strategies as hh
from properties.assertions import PropertyViolation, assert_close, assert_shape, fmt_context
from properties.implementation import capabilities
from properties.plugin import requires
from properties.sampling import projections
from reference.rounding import unit_roundoff
from reference.statistics import correlation_t_critical

CALLS = 400
"""Independent projections per example: DKWM ε(400, 1e-11) ≈ 0.18."""

MODES = [
    pytest.param(False, "chi", id="iid"),
    pytest.param(True, "chi", id="orthogonal-chi"),
]


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.parametrize(("orthogonal", "norms"), MODES)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_coordinates_and_norms_follow_the_gaussian_law(impl, device, orthogonal, norms, data):
    """e_kᵀω_r ~ N(0, 1) along every axis k and ‖ω_r‖ ~ χ_d, for several rows r (MATH 10, 24)."""
    requires(impl, "sample_projection", *(["orthogonal"] if orthogonal else []))
    d = data.draw(hh.dims(64), label="d")
    m = data.draw(hh.feature_counts(d, max_m=3 * d + 1), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    checks.projection_law(
        impl, m, d, orthogonal=orthogonal, norms=norms, gen=gen, calls=CALLS, alpha=budget.per_check(budget.TEST_ALPHA)
    )


def _block_rounding_bound(d: int, dtype: torch.dtype) -> float:
    """Householder QR gives ‖QᵀQ − I‖ = O(d·u) (Higham, *Accuracy and Stability*, Thm 19.4);
    we allow 10·d·u in the dtype the implementation returned, plus the same again for dividing
    out the norms (the Gram matrix itself is then formed in float64)."""
    return 20 * d * unit_roundoff(dtype)


@settings(max_examples=budget.statistical_examples())
@given(d=hh.dims(128), data=st.data())
def test_rows_within_a_block_are_orthogonal(impl, device, d, data):
    """U_b U_bᵀ = I to rounding within each block of d rows (MATH 14); fixed norms are exactly √d."""
    requires(impl, "sample_projection", "orthogonal")
    m = data.draw(hh.feature_counts(d, max_m=min(512, 3 * d + 1)), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    for norms in ("chi", "fixed") if "fixed_norms" in capabilities(impl) else ("chi",):
        native = impl.sample_projection(m, d, orthogonal=True, norms=norms, generator=gen)
        w = native.detach().to(dtype=torch.float64)
        assert_shape("sample_projection(m, d)", w.shape, (m, d))
        radii = w.norm(dim=-1)
        u = w / radii[:, None]
        bound = _block_rounding_bound(d, native.dtype)
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
            assert_close("fixed norms ‖ω_r‖", radii, torch.full_like(radii, math.sqrt(d)), rtol=bound, m=m, d=d)


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_blocks_are_independent(impl, device, data):
    """Rows r and r + d come from different blocks and must be independent: the sample
    correlation of e_kᵀω_r and e_kᵀω_{r+d} over independent calls obeys the exact t_{n−2} law
    (MATH 10: ⌈m/d⌉ *independent* blocks). A block reused for every block has correlation ±1."""
    requires(impl, "sample_projection", "orthogonal")
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
        raise PropertyViolation(
            f"rows {r} and {r + d} (different blocks) are correlated along axis {worst}: "
            f"r = {corr[worst]:+.3f}, |r| ≤ {bound:.3f} required at α = {alpha:.1e}\n"
            + fmt_context(m=m, d=d, calls=CALLS)
        )
