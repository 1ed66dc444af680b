"""The law of the attention output, exactly (MATH 17, 41).

Ŷ_i = N̂_i/D̂_i is a ratio of two means over the m feature rows: N̂_ic = Σ_j Â_ij V_jc and
D̂_i = Σ_j Â_ij are linear in the kernel estimates, so with iid rows their means, variances and
covariance are closed forms of pairwise moments, and the variances of the statistics that
estimate them are closed forms of fourth moments (MATH 41, ``reference.output_moments``). The
tests below hold N̂ and D̂, computed from the implementation's own features, to those laws;
together with "linear time = quadratic on the same features" (``test_attention_identities``) this
pins the law of the output Ŷ without the delta method's approximation. Replicates come from the
power computation: a variance off by ``budget.TARGET_VARIANCE_ERROR`` (relative) is caught with
probability ≥ 1 − β, capped at ``MAX_REPLICATES`` (beyond the cap the test keeps its false-alarm
rate and loses power; the message states the replicates used); input norms are drawn up to
‖q̃‖, ‖k̃‖ ≤ 1.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from favor_suite import budget
from favor_suite import strategies as hh
from favor_suite.assertions import fail
from favor_suite.attention_cases import call
from favor_suite.implementation import precision_of
from favor_suite.reference import projections as suite_projections
from favor_suite.reference import statistics as rs
from favor_suite.reference.output_moments import output_moments
from favor_suite.reference.rounding import term_error, unit_roundoff
from favor_suite.reference.softmax import allowed_pairs, scaled, softmax_attention
from favor_suite.sampling import projection_source, projections

MAX_REPLICATES = {"positive": 25_000, "hyperbolic": 2500, "trigonometric": 2500}
"""The most replicate projections one example draws: positive features take one batched
feature_map call (``_features``), the paired kinds one call per projection."""
ACCEPTANCE_SEEDS = (0, 1, 2)
ACCEPTANCE_ERROR = 0.015


def _problem(data, device, causal: bool):
    d = data.draw(st.integers(1, 4), label="d")
    length = data.draw(st.integers(2, 6), label="L")
    norm = data.draw(st.floats(0.05, 1.0), label="max ‖q̃‖,‖k̃‖")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    qk = hh.structured_vectors("gaussian", 2 * length, d, norm * d**0.25, gen)
    v = torch.randn(length, 2, generator=gen, dtype=torch.float64, device=device)
    mask = None
    if data.draw(st.booleans(), label="masked"):
        mask = torch.rand(length, generator=gen, dtype=torch.float64, device=device) < 0.7
        mask[0] = True
    context = {"d": d, "L": length, "causal": causal, "max_norm": norm, "masked": mask is not None}
    return qk[:length], qk[length:], v, mask, gen, context


def _features(impl, q, k, w, kind):
    """(φ(q̃), φ(k̃)) ``[R, L, F]`` for R projections: one ``feature_map`` call per projection on
    [q̃; k̃] — or, for positive features (one feature per row) on iid rows, ONE call on all R·m rows
    whose per-row features are grouped m at a time and rescaled from 1/√(Rm) to 1/√m: the rows are
    iid, so any grouping gives R iid m-row replicates."""
    tokens = torch.cat([scaled(q), scaled(k)])
    if kind == "positive":
        replicates, m = w.shape[:2]
        phi = impl.feature_map(tokens, w.reshape(-1, w.shape[-1]), kind=kind).double() * math.sqrt(replicates)
        phi = phi.reshape(tokens.shape[0], replicates, m).transpose(0, 1)
    else:
        phi = torch.stack([impl.feature_map(tokens, proj, kind=kind).double() for proj in w])
    return phi[:, : q.shape[0]], phi[:, q.shape[0] :]


def _numerators(impl, q, k, v, w, kind, causal, mask):
    """``([R, L, dv+1], [L, dv+1])``: (N̂, D̂) per replicate projection from ``feature_map``, and
    the rounding allowance (``term_error`` against Σ_jf |φ_f(q̃_i)||φ_f(k̃_j)||v_jc|)."""
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=mask, device=q.device).double()
    values = torch.cat([v, torch.ones_like(v[:, :1])], dim=-1)
    qf, kf = _features(impl, q, k, w, kind)
    estimates = ((qf @ kf.transpose(-2, -1)) * allowed) @ values
    absolute = (((qf.abs() @ kf.abs().transpose(-2, -1)) * allowed) @ values.abs()).amax(0)
    norms = scaled(q).norm(dim=-1).amax() + scaled(k).norm(dim=-1).amax()
    exponent = 2 * float(w.norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[-2]))
    u = unit_roundoff(precision_of(impl, torch.float64).products)
    epsilon = term_error(
        d=q.shape[-1], exponent=exponent, features=qf.shape[-1], length=k.shape[-2], products=u, accumulation=u
    )
    return estimates, epsilon * absolute


def _check(what, statistic, expected, sd_one, slack, alpha, **context) -> None:
    """Median of means over the replicates (MATH 39), elementwise: |MoM − expected| ≤
    MOM_C·sd_one/√(R/k) + slack, k = mom_groups(α), sd_one the exact standard deviation of one
    replicate of the statistic. Distribution-free given that variance: the squared deviations of
    N̂ at ‖q̃‖ ≈ 1 have a kurtosis in the hundreds, where a z-test's normal tail does not hold."""
    groups = rs.mom_groups(alpha)
    size = statistic.shape[0] // groups
    centre = rs.median_of_means(statistic.cpu().numpy(), groups)
    centre = torch.as_tensor(centre, dtype=torch.float64, device=statistic.device)
    error = (centre - expected).abs()
    bound = rs.MOM_C * sd_one / math.sqrt(size) + slack
    bad = ~(error <= bound)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        fail(
            f"{what} at {index}: {float(centre[index]):.6g} vs exact {float(expected[index]):.6g}, "
            f"|difference| {float(error[index]):.3g} > {float(bound[index]):.3g} (median of {groups} means of "
            f"{size} replicates, α = {alpha:.1e})",
            **context,
        )


@pytest.mark.false_alarm(budget.TEST_ALPHA)
@pytest.mark.requires("feature_map")
@settings(max_examples=budget.statistical_examples())
@given(data=st.data())
def test_numerator_and_normalizer_follow_their_exact_law(impl, device, kind, mode, data):
    """With m iid rows: E N̂_ic = Σ_j A_ij V_jc and E D̂_i = Σ_j A_ij (z-tests with the exact
    variances), Var N̂_ic, Var D̂_i and Cov(N̂_ic, D̂_i) equal MATH 41's closed forms (z-tests on
    the replicate means of the squared and crossed deviations, whose exact variances are fourth
    moments), causal or bidirectional, with or without masked keys. Rounding of each replicate
    (``term_error``) widens the bands: the means by r, the second moments by the product bound
    |(a + e)(b + f) − ab| ≤ |a||f| + |b||e| + |e||f|."""
    causal = mode == "causal"
    q, k, v, mask, gen, context = _problem(data, device, causal)
    m = data.draw(st.sampled_from([16, 32, 64]), label="m")
    exact = output_moments(q, k, v, m, kind=kind, causal=causal, key_mask=mask)
    mean = torch.cat([exact.mean_numerator, exact.mean_normalizer[:, None]], dim=-1)
    var = torch.cat([exact.var_numerator, exact.var_normalizer[:, None]], dim=-1)
    var_sq = torch.cat([exact.var_sq_numerator, exact.var_sq_normalizer[:, None]], dim=-1)
    ratio_variance = float((var_sq / var.clamp_min(torch.finfo(torch.float64).tiny) ** 2).amax())
    checks = 3 * mean.numel() + exact.cov.numel()
    alpha = budget.per_check(budget.TEST_ALPHA, checks=checks)
    needed = rs.samples_for_mom(ratio_variance, budget.TARGET_VARIANCE_ERROR, alpha, budget.POWER_BETA)
    replicates = min(MAX_REPLICATES[kind], max(rs.mom_groups(alpha), needed))
    w = projections(impl, replicates, m, q.shape[-1], orthogonal=False, norms="chi", gen=gen)
    estimates, rounding = _numerators(impl, q, k, v, w, kind, causal, mask)
    context |= dict(kind=kind, m=m, projections=projection_source(impl, orthogonal=False))
    _check(
        "E[N̂, D̂] (means of the replicates)",
        estimates,
        mean,
        var.sqrt(),
        rounding,
        alpha,
        **context,
    )
    deviation = estimates - mean
    size = replicates // rs.mom_groups(alpha)
    spread = (var + rs.MOM_C * (var_sq / size).sqrt()).sqrt()
    _check(
        "Var[N̂, D̂] (mean squared deviations)",
        deviation**2,
        var,
        var_sq.sqrt(),
        2 * spread * rounding + rounding**2,
        alpha,
        **context,
    )
    _check(
        "Cov(N̂, D̂) (mean crossed deviations)",
        deviation[..., :-1] * deviation[..., -1:],
        exact.cov,
        exact.var_cross.sqrt(),
        spread[..., :-1] * rounding[..., -1:]
        + spread[..., -1:] * rounding[..., :-1]
        + rounding[..., :-1] * rounding[..., -1:],
        alpha,
        **context,
    )


@pytest.mark.requires("attention", "feature:positive")
def test_8192_orthogonal_features_are_within_1_5_percent_of_exact(impl, device, mode):
    """Acceptance criterion: m = 8192 positive ORF features (the suite's sign-fixed Haar sampler,
    seeds 0, 1, 2), ‖q̃‖ = ‖k̃‖ = 0.5, L = 64, d = 16: the output is within 1.5% (relative
    Frobenius) of exact float64 softmax attention. Deterministic: on these projections the exact
    computation's errors are 0.31-0.66% (bidirectional) and 0.25-0.74% (causal), so a correct
    implementation — equal to it up to rounding — never fails: false-alarm probability 0. (The
    sampler's own law is the projection properties' job.)"""
    causal = mode == "causal"
    for seed in ACCEPTANCE_SEEDS:
        gen = hh.generator(seed, device)
        q, k = (
            x / x.norm(dim=-1, keepdim=True) * 0.5 * 16**0.25
            for x in torch.randn(2, 64, 16, generator=gen, dtype=torch.float64, device=device)
        )
        v = torch.randn(64, 8, generator=gen, dtype=torch.float64, device=device)
        w = suite_projections.haar_orthogonal(8192, 16, gen)
        out = call(impl, q, k, v, w, causal=causal).double()
        exact = softmax_attention(q, k, v, causal=causal)
        rel = float((out - exact).norm() / exact.norm())
        if not rel <= ACCEPTANCE_ERROR:
            fail(f"m = 8192 ORF output is {rel:.2%} from exact softmax attention (> 1.5%)", seed=seed, causal=causal)
