"""The kernel estimator Â = φ(x)ᵀφ(y): mean, variance, convergence (MATH 5-9, 12, 16).

Every tolerance is a closed form of :mod:`favor_suite.reference.kernel_moments` and a false-alarm
probability (MATH 25, 27). Power is by construction: the number of features or replicates is
computed from the closed-form relative variance so that a relative bias of
``budget.TARGET_RELATIVE_BIAS`` is detected with probability ≥ 1 − ``budget.POWER_BETA``
(:func:`favor_suite.reference.statistics.samples_for_relative_bias`).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from favor_suite import budget, checks
from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, assert_ratio
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import statistics as rs
from favor_suite.sampling import projections

LAWS = [pytest.param(False, id="iid"), pytest.param(True, id="orthogonal")]
"""Projection laws. The implementation's sampler draws them where it declares the law, the suite's
own sampler otherwise (``sampling.projection_source``): these properties test the feature map."""
REPLICATES = 2000


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map")
@pytest.mark.parametrize("orthogonal", LAWS)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_kernel_estimate_is_unbiased(impl, device, kind, orthogonal, data):
    """E[φ(x)ᵀφ(y)] = SM(x, y) (MATH 5), z-test with the exact MSE (MATH 7-9, 12; run at α/10,
    MATH 25). One projection of M rows: Â_M is the mean of M per-row estimates, and M is chosen
    so that a relative bias of 2% is caught with probability ≥ 0.999 (``checks.kernel_mean``)."""
    pair = data.draw(hh.kernel_pairs(device=device, max_d=64), label="pair")
    checks.kernel_mean(
        impl, kind, pair.x, pair.y, orthogonal=orthogonal, gen=pair.gen, alpha=budget.per_check(budget.TEST_ALPHA)
    )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("sample_projection", "feature_map", "feature:positive", "orthogonal", "fixed_norms")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_fixed_norms_have_the_smreg_signature(impl, device, data):
    """With ‖ω_r‖ = √d the positive estimator's mean is SMREG = Λ·₀F₁(; d/2; d·s/4), biased by
    e^{−s/2}₀F₁(; d/2; d·s/4) − 1 relative to SM (MATH 13, [P Thm 1]). d ≤ 6 and s ∈ [0.8, 1]
    make the bias ≥ 1.9%, and M is chosen so that an estimator with mean SM (χ norms in disguise)
    fails with probability ≥ 0.999. Variance: exact fixed-norm ORF closed form **(derived)**."""
    d = data.draw(st.integers(2, 6), label="d")
    s = data.draw(st.floats(0.8, 1.0), label="s")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    x, y = hh.pair_with_sum(d, s, gen, spread=0.05)
    alpha = budget.per_check(budget.TEST_ALPHA)
    smreg = float(km.fixed_norm_mean(x, y, d))
    sm = float(km.softmax_kernel(x, y))
    bias = abs(smreg / sm - 1)
    rel_var_one = float(km.mse_positive_orf_fixed(x, y, 1, d)) / smreg**2
    rows = min(budget.MAX_ROWS, rs.samples_for_relative_bias(rel_var_one, bias, alpha, budget.POWER_BETA))
    w = projections(impl, 1, rows, d, orthogonal=True, norms="fixed", gen=gen)
    estimate, rounding = checks.kernel_estimates(impl, x, y, w, kind="positive")
    checks.mean_test(
        f"positive ORF estimate with fixed norms √d, M = {rows}, vs SMREG (SM = {sm:.6g}, bias {bias:.2%})",
        estimate,
        rounding,
        smreg,
        float(km.mse_positive_orf_fixed(x, y, rows, d)),
        alpha,
        mom=False,
        d=d,
        s=s,
    )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map")
@pytest.mark.parametrize("orthogonal", LAWS)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_kernel_estimate_variance_matches_closed_form(impl, device, kind, orthogonal, data):
    """Over independent projections of m rows, the empirical MSE about SM equals the closed form
    (MATH 7-9 iid, 12 and 32-33 ORF): a two-sided ratio test, so too much *or* too little variance
    fails. The replicate mean is z-tested against SM at the same m. The spread of the ratio is
    the closed-form Var(T) for iid rows (MATH 38), studentized from the replicates for ORF (no
    fourth moment in closed form); s ≤ 0.5 keeps the fourth moment tame (MATH 27)."""
    pair = data.draw(hh.kernel_pairs(device=device, max_d=32), label="pair")
    m = data.draw(hh.feature_counts(pair.d, max_m=128, min_m=16), label="m")
    checks.kernel_variance(
        impl,
        kind,
        pair.x,
        pair.y,
        m,
        orthogonal=orthogonal,
        gen=pair.gen,
        replicates=REPLICATES,
        alpha=budget.per_check(budget.TEST_ALPHA),
    )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "feature:positive")
@settings(max_examples=max(1, budget.statistical_examples() // 3))  # 9000 QRs of 64×64 per example
@given(data=st.data())
def test_orthogonal_features_have_less_variance_than_iid(impl, device, data):
    """MSE(ort)/MSE(iid) equals MATH 12's exact ratio, which is < 1 here ([P Thm 2]).
    Positive features, m = d = 64, s ∈ [0.9, 1]: the exact ratio is ≈ 0.73-0.75, and with 3000
    replicates (sd of r̂ ≈ 0.026) a two-sided test at α also rejects an implementation with
    iid variance (ratio 1) with probability ≥ 0.999: |1 − 0.75| ≥ (z_α + z_β)·sd."""
    d = 64
    s = data.draw(st.floats(0.9, 1.0), label="s")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    x, y = hh.pair_with_sum(d, s, gen, spread=0.02)
    iid = float(km.mse_positive_iid(x, y, d))
    exact = float(km.mse_positive_orf(x, y, d, d)) / iid
    assert exact < 1.0, f"MATH 12 ratio {exact} is not below 1 at s = {s}"
    w = projections(impl, 3000, d, d, orthogonal=True, norms="chi", gen=gen)
    estimates, rounding = checks.kernel_estimates(impl, x, y, w, kind="positive")
    checks.variance_test(
        f"positive ORF estimate, m = d = 64 (MATH 12 predicts {exact:.4f} of the iid MSE)",
        estimates,
        rounding,
        float(km.softmax_kernel(x, y)),
        exact * iid,
        None,
        budget.per_check(budget.TEST_ALPHA),
        s=s,
    )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map", "feature:positive")
@pytest.mark.parametrize("orthogonal", LAWS)
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_kernel_matrix_error_falls_as_one_over_m(impl, device, orthogonal, data):
    """Over a 6×6 kernel matrix the summed squared error, each entry divided by its closed-form
    MSE, has mean 36 at m and at 4m (MATH 8, 12, 16): the error falls at the 1/√m rate with the
    exact constant. Two ratio tests, studentized over 300 replicates each."""
    d = data.draw(hh.dims(16), label="d")
    m = data.draw(st.integers(8, 64), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    seq = hh.structured_vectors("gaussian", 12, d, math.sqrt(0.5) / 2, gen)
    q, k = seq[:6], seq[6:]
    exact = torch.exp(q @ k.T)
    alpha = budget.per_check(budget.TEST_ALPHA, checks=2)
    for rows in (m, 4 * m):
        mse = torch.as_tensor(km.kernel_mse("positive", q[:, None], k[None, :], rows, d, orthogonal=orthogonal))
        w = projections(impl, 300, rows, d, orthogonal=orthogonal, norms="chi", gen=gen)
        scores = []
        for proj in w:
            phi_q = impl.feature_map(q, proj, kind="positive").double()
            phi_k = impl.feature_map(k, proj, kind="positive").double()
            scores.append((((phi_q @ phi_k.T - exact) ** 2) / mse).sum())
        s = torch.stack(scores).cpu().numpy() / 36.0
        assert_ratio(
            f"kernel-matrix squared error / closed form at m = {rows}",
            float(s.mean()),
            float(s.std(ddof=1) / math.sqrt(s.size)),
            alpha,
            d=d,
            orthogonal=orthogonal,
        )


@pytest.mark.requires("feature_map")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_entry_does_not_depend_on_other_tokens(impl, device, kind, data):
    """Â_ij = φ(q_i)ᵀφ(k_j) is a function of q_i, k_j and ω alone (MATH 16): the same pair inside
    sequences of different lengths and contents gives the same value, to the float64 rounding of
    the two computations (``checks.estimate_rounding`` of each: two features of error
    ``feature_error`` per product, a sum of F products)."""
    d = data.draw(hh.dims(32), label="d")
    m = data.draw(hh.feature_counts(d, max_m=128), label="m")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    w = projections(impl, 1, m, d, orthogonal=impl.orthogonal, norms="chi", gen=gen)[0]
    lengths = data.draw(st.tuples(st.integers(1, 30), st.integers(1, 30)), label="lengths")
    structure = data.draw(st.sampled_from(hh.STRUCTURES), label="structure")
    values, magnitudes = [], []
    pair = hh.structured_vectors("gaussian", 2, d, 0.7, gen)
    for length in lengths:
        others = hh.structured_vectors(structure, 2 * length, d, 2.0, gen)
        q = torch.cat([others[:length], pair[:1]])
        k = torch.cat([pair[1:], others[length:]])
        phi_q = impl.feature_map(q, w, kind=kind).double()
        phi_k = impl.feature_map(k, w, kind=kind).double()
        values.append((phi_q[-1] * phi_k[0]).sum())
        magnitudes.append((phi_q[-1] * phi_k[0]).abs().sum())
    slack = sum(checks.estimate_rounding(impl, pair[0], pair[1], w, magnitude, kind=kind) for magnitude in magnitudes)
    assert_close(
        "Â_ij for one pair embedded in two sequences",
        values[1],
        values[0],
        rtol=0.0,
        atol=slack,
        lengths=lengths,
        kind=kind,
        m=m,
        d=d,
        structure=structure,
    )
