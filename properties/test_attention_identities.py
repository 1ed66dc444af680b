"""Exact identities of the attention output: they hold for every draw of the features, to
rounding (MATH 17-19). Allowances come from :func:`favor_suite.attention_cases.quadratic_on_same_features`,
computed per element from the features themselves and the implementation's declared precision."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, assert_identical
from favor_suite.attention_cases import call, chunk_sizes, draw_mask, draw_problem, quadratic_on_same_features
from favor_suite.reference.rounding import gamma, unit_roundoff


@pytest.mark.requires("attention", "feature_map")
@given(data=st.data())
def test_linear_time_equals_quadratic_on_the_same_features(impl, device, kind, mode, data):
    """Ŷ = D̂⁻¹ φ(Q̃)(φ(K̃)ᵀ[V 1]) equals the O(L²) computation with Â = φ(Q̃)φ(K̃)ᵀ materialised,
    any chunk size, any leading dims, with or without a key mask (MATH 17)."""
    causal = mode == "causal"
    seq, w = draw_problem(data, device, kind=kind)
    mask = draw_mask(data, impl, seq.k, seq.seed)
    options = data.draw(chunk_sizes(impl), label="chunk")
    out = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal, key_mask=mask, **options)
    expected, allowance = quadratic_on_same_features(
        impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal, key_mask=mask
    )
    assert_close(
        "linear-time attention vs quadratic on the same features",
        out,
        expected,
        rtol=0.0,
        atol=allowance,
        masked=mask is not None,
        m=w.shape[0],
        **options,
        **seq.describe(),
    )


@pytest.mark.requires("attention", "feature_map")
@given(data=st.data())
def test_bidirectional_attention_is_permutation_equivariant(impl, device, kind, data):
    """Permuting keys with their values leaves the output unchanged; permuting queries permutes
    the rows (bidirectional attention is a set function of the keys)."""
    seq, w = draw_problem(data, device, kind=kind)
    length = seq.k.shape[-2]
    gen = hh.generator(seq.seed + 3, device)
    perm_k = torch.randperm(length, generator=gen, device=device)
    perm_q = torch.randperm(seq.q.shape[-2], generator=gen, device=device)
    out = call(impl, seq.q, seq.k, seq.v, w, kind=kind)
    _, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, kind=kind)
    permuted = call(impl, seq.q[..., perm_q, :], seq.k[..., perm_k, :], seq.v[..., perm_k, :], w, kind=kind)
    assert_close(
        "output after permuting keys+values and queries",
        permuted,
        out[..., perm_q, :],
        rtol=0.0,
        atol=2 * allowance[..., perm_q, :],
        **seq.describe(),
    )


@pytest.mark.requires("attention")
@pytest.mark.kinds("positive", "hyperbolic")
@given(data=st.data())
def test_output_rows_lie_in_the_convex_hull_of_the_values(impl, device, kind, mode, data):
    """With positive features each Ŷ_i is a convex combination of the allowed rows of V:
    min_j V_jc ≤ Ŷ_ic ≤ max_j V_jc, deterministically (MATH 18). A convex combination computed in
    float64 with positive weights is within γ_{L+F+2}·max|V| of the hull (Lemma 3.1)."""
    causal = mode == "causal"
    seq, w = draw_problem(data, device, kind=kind, max_norm=(0.05, 2.0))
    out = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal).double()
    v = seq.v.double()
    if causal:
        low, high = v.cummin(dim=-2).values, v.cummax(dim=-2).values
    else:
        low, high = v.amin(dim=-2, keepdim=True), v.amax(dim=-2, keepdim=True)
    slack = gamma(seq.k.shape[-2] + 2 * w.shape[0] + 2, unit_roundoff(torch.float64)) * v.abs().amax()
    centre, radius = (high + low) / 2, (high - low) / 2 + slack
    assert_close(
        "output rows inside [min V, max V] per column",
        out,
        centre.expand_as(out),
        rtol=0.0,
        atol=radius.expand_as(out),
        **seq.describe(),
    )


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention", "feature_map", "dtype:float32", "feature:positive")
@given(data=st.data())
def test_stabilization_cancels_where_plain_float32_would_underflow(impl, device, mode, data):
    """Tokens x̃ = b + δ with ‖b‖²/2 ∈ [95, 130] and a short projection (‖ω_r‖ ≈ 0.05√d) put every
    log-feature ω_rᵀx̃ − ‖x̃‖²/2 near −‖b‖²/2: exp of it is 0 in float32 (below e^{−103}) but
    fine in float64, while the spread across features and tokens stays small. A float32 call must
    still equal the float64 quadratic computation on the same features to float32 rounding: the
    stabilizers cancel exactly (MATH 19) instead of producing 0/0. Exact in exact arithmetic, so a
    failure is *fragile*: a narrower finite range than the contract."""
    causal = mode == "causal"
    d = data.draw(hh.dims(32), label="d")
    length = data.draw(st.integers(1, 40), label="L")
    m = data.draw(st.integers(1, 64), label="m")
    half_sq = data.draw(st.floats(95.0, 130.0), label="‖b‖²/2")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    base = torch.randn(1, d, generator=gen, dtype=torch.float64, device=device)
    base = base / base.norm() * (2 * half_sq) ** 0.5
    tokens = base + hh.structured_vectors("gaussian", 2 * length, d, 0.5, gen)
    q, k = (tokens[:length] * d**0.25).float(), (tokens[length:] * d**0.25).float()
    v = torch.randn(length, 3, generator=gen, dtype=torch.float64, device=device).float()
    w = (0.05 * torch.randn(m, d, generator=gen, dtype=torch.float64, device=device)).float()
    out = call(impl, q, k, v, w, kind="positive", causal=causal)
    expected, allowance = quadratic_on_same_features(
        impl, q, k, v, w, kind="positive", causal=causal, dtype=torch.float32
    )
    assert_close(
        "float32 attention where unstabilized features underflow, vs float64 quadratic",
        out,
        expected,
        rtol=0.0,
        atol=allowance,
        d=d,
        L=length,
        m=m,
        half_sq_norm=half_sq,
    )


@pytest.mark.requires("attention", "feature_map")
@given(data=st.data())
def test_batch_and_head_slices_are_independent(impl, device, kind, mode, data):
    """An output slice equals the call on that slice alone: nothing is shared across leading dims."""
    causal = mode == "causal"
    seq, w = draw_problem(data, device, kind=kind)
    if seq.q.dim() == 2:
        q, k, v = seq.q[None], seq.k[None], seq.v[None]
    else:
        q, k, v = seq.q, seq.k, seq.v
    q, k, v = (torch.cat([x, 3 * x.flip(0)], dim=0) for x in (q, k, v))
    out = call(impl, q, k, v, w, kind=kind, causal=causal)
    alone = call(impl, q[:1], k[:1], v[:1], w, kind=kind, causal=causal)
    _, allowance = quadratic_on_same_features(impl, q[:1], k[:1], v[:1], w, kind=kind, causal=causal)
    assert_close(
        "first batch slice vs the call on it alone",
        out[:1],
        alone,
        rtol=0.0,
        atol=2 * allowance,
        **seq.describe(),
    )


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention")
@pytest.mark.kinds("positive")
@given(data=st.data())
def test_identical_inputs_give_bit_identical_outputs(impl, device, kind, mode, data):
    """Two calls on the same inputs return the same bits. A kernel with atomics or split
    reductions may not; it is then *fragile* (its results are reproducible only to rounding), and
    the strict causality property compares its past outputs to the rounding allowance instead."""
    seq, w = draw_problem(data, device, kind=kind)
    options = data.draw(chunk_sizes(impl), label="chunk")
    first = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=mode == "causal", **options)
    second = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=mode == "causal", **options)
    assert_identical("the same call twice", second, first, **options, **seq.describe())
