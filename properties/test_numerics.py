"""Numerics and dtypes.

Claimed range (``reference.rounding.finite_input_radius``): positive-feature attention is finite,
with finite gradients, whenever ‖q̃‖, ‖k̃‖ ≤ R = ln(1/tiny)/(2·max_r‖ω_r‖), tiny the smallest
normal number of the precision the implementation declares for its products. Low-precision
results agree with float64 on the same (rounded) inputs and features to the declared precision's
rounding bound, plus one rounding to the output dtype. Both are exact in exact arithmetic: a
failure is *fragile*; returning another dtype than the input's is a *contract* failure.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from favor_suite import budget
from favor_suite import strategies as hh
from favor_suite.assertions import PropertyViolation, assert_close, fail
from favor_suite.attention_cases import (
    call,
    chunk_sizes,
    draw_mask,
    gaussian_projection,
    gradients_on_same_features,
    quadratic_on_same_features,
)
from favor_suite.implementation import Precision, precision_of
from favor_suite.reference.rounding import (
    accumulation_roundoff,
    finite_input_radius,
    quotient_allowance,
    term_error,
    unit_roundoff,
)
from favor_suite.reference.softmax import scaled

LONGEST = 4096
"""The longest sequence of the long-sequence property (an implementation's ``max_length`` may cap it)."""
BISECTION_STEPS = 30
"""Halvings of the scale interval when measuring where outputs stop being finite: 2⁻³⁰ relative."""


def _finite(impl, q, k, v, w, causal, options) -> bool:
    with torch.no_grad():
        return bool(torch.isfinite(call(impl, q, k, v, w, causal=causal, **options)).all())


def _measured_radius(impl, q, k, v, w, causal, options, scale: float, radius: float) -> float:
    """Largest multiple t·scale (t ≤ 1) of the inputs' scaled norm bound with finite outputs."""
    low, high = 0.0, 1.0
    for _ in range(BISECTION_STEPS):
        mid = (low + high) / 2
        if _finite(impl, q * mid, k * mid, v, w, causal, options):
            low = mid
        else:
            high = mid
    return low * scale * radius


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention", "feature:positive")
@given(data=st.data())
def test_outputs_and_gradients_are_finite_in_the_claimed_range(impl, device, dtype, mode, data):
    """‖q̃‖, ‖k̃‖ up to the claimed radius R(dtype, ω), structured inputs included: outputs (and,
    with autograd, gradients of q, k, v) are finite. A failure reports the radius measured."""
    causal = mode == "causal"
    d = data.draw(hh.dims(64), label="d")
    m = data.draw(st.integers(1, 128), label="m")
    length = data.draw(st.integers(1, 40), label="L")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    w = gaussian_projection(m, d, gen)
    largest = float(w.norm(dim=-1).amax())
    radius = finite_input_radius(precision_of(impl, dtype).products, largest, input_dtype=dtype, d=d)
    fraction = data.draw(st.floats(0.5, 1.0), label="fraction of R")
    structures = [data.draw(st.sampled_from(hh.STRUCTURES), label=f"{n} structure") for n in "qk"]
    q, k = (hh.structured_vectors(s, length, d, fraction * radius * d**0.25, gen) for s in structures)
    v = torch.randn(length, 3, generator=gen, dtype=torch.float64, device=device)
    q, k, v, w = (x.to(dtype).requires_grad_(impl.autograd) for x in (q, k, v, w))
    options = data.draw(chunk_sizes(impl), label="chunk") if causal else {}
    out = call(impl, q, k, v, w, causal=causal, **options)
    context = dict(dtype=dtype, d=d, m=m, L=length, radius=radius, fraction=fraction, structures=structures)
    if not torch.isfinite(out).all():
        measured = _measured_radius(
            impl, q.detach(), k.detach(), v.detach(), w.detach(), causal, options, fraction, radius
        )
        fail(
            f"{int((~torch.isfinite(out)).sum())} non-finite outputs at ‖q̃‖, ‖k̃‖ ≤ {fraction * radius:.3g}: "
            f"finite only up to {measured:.3g} on these inputs (claimed range {radius:.3g}, "
            f"{measured / radius:.1%} of it)",
            **context,
        )
    if out.dtype != dtype:
        fail(f"output dtype {out.dtype} for {dtype} inputs", severity="contract", **context)
    if impl.autograd:
        out.float().square().sum().backward()
        for name, x in (("q", q), ("k", k), ("v", v)):
            if x.grad is None or not torch.isfinite(x.grad).all():
                fail(f"gradient of {name} is missing or non-finite within the claimed range", **context)


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention", "feature_map", "feature:positive")
@pytest.mark.dtypes("float32", "bfloat16", "float16")
@given(data=st.data())
def test_low_precision_matches_float64_on_the_same_features(impl, device, dtype, mode, data):
    """Lower-precision inputs give the float64 quadratic result on the same rounded inputs and
    projection, within the declared precision's rounding bound (sums over the sequence in at least
    fp32) plus one rounding to the output dtype (``reference.rounding``)."""
    causal = mode == "causal"
    seq = data.draw(hh.sequences(device=device), label="inputs").cast(dtype)
    m = data.draw(st.integers(1, 64), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device), dtype)
    out = call(impl, seq.q, seq.k, seq.v, w, causal=causal)
    expected, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, causal=causal, dtype=dtype)
    assert_close(
        f"{dtype} attention vs float64 on the same rounded inputs",
        out,
        expected,
        rtol=0.0,
        atol=allowance,
        m=m,
        **seq.describe(),
    )


def _chunks_around(impl, length: int) -> st.SearchStrategy[dict[str, int]]:
    """The implementation's block length (if it has one): 1, a divisor of L, or a non-divisor."""
    if not impl.chunk_option:
        return st.just({})
    divisors = [c for c in range(2, length) if length % c == 0] or [1]
    others = [c for c in range(2, length) if length % c] or [1]
    return st.one_of(st.just(1), st.sampled_from(divisors), st.sampled_from(others)).map(
        lambda c: {impl.chunk_option: c}
    )


@pytest.mark.requires("attention", "autograd", "dtype:float64")
@settings(max_examples=budget.statistical_examples() * 4)
@given(data=st.data())
def test_gradcheck_in_float64(impl, device, kind, mode, data):
    """torch.autograd.gradcheck in float64 (fast mode: a random vᵀJu against central finite
    differences, eps = 1e-6, torch's atol 1e-5 and rtol 1e-3 — an acceptance criterion, not a
    derived bound) with L up to 12, longer than the block: block lengths 1, divisors and
    non-divisors of L, so that the state gradients carried across blocks and the running-max
    rescaling are exercised; with a key mask when the implementation has one."""
    causal = mode == "causal"
    length = data.draw(st.integers(2, 12), label="L")
    seq = data.draw(
        hh.sequences(device=device, min_len=length, max_len=length, max_d=3, max_dv=2, batch=st.just(())),
        label="inputs",
    )
    w = gaussian_projection(
        data.draw(st.integers(1, 4), label="m"), seq.q.shape[-1], hh.generator(seq.seed + 1, device)
    )
    mask = draw_mask(data, impl, seq.k, seq.seed)
    options = data.draw(_chunks_around(impl, length), label="chunk")
    q, k, v = (x.detach().clone().requires_grad_(True) for x in (seq.q, seq.k, seq.v))
    ok = torch.autograd.gradcheck(
        lambda q, k, v: call(impl, q, k, v, w, kind=kind, causal=causal, key_mask=mask, **options),
        (q, k, v),
        raise_exception=False,
        fast_mode=True,
    )
    if not ok:
        fail(
            f"gradcheck failed ({mode}, L = {length}, masked {mask is not None}, {options or 'no block option'})",
            kind=kind,
            **seq.describe(),
        )


@pytest.mark.requires("attention", "autograd", "feature_map")
@pytest.mark.dtypes("float64", "float32", "bfloat16", "float16")
@given(data=st.data())
def test_gradients_match_float64_on_the_same_features(impl, device, kind, mode, dtype, data):
    """dq, dk, dv (for a random cotangent) equal float64 autograd through the quadratic computation
    on the same features, within the rounding allowance of the declared precision
    (``attention_cases.gradients_on_same_features``) — fla's check of every kernel's dq/dk/dv
    against its naive twin. Beyond the allowance of a computation done entirely in the input
    dtype the gradient is *wrong*; between the two it is *fragile*. A gradient beyond the dtype's
    range may overflow to ±inf: compared clamped to the finite range (MATH 43g)."""
    causal = mode == "causal"
    seq = data.draw(hh.sequences(device=device, max_len=24, max_d=8, max_dv=4), label="inputs").cast(dtype)
    m = data.draw(st.integers(1, 16), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device), dtype)
    mask = draw_mask(data, impl, seq.k, seq.seed)
    options = data.draw(chunk_sizes(impl), label="chunk")
    g = torch.randn(seq.v.shape, generator=hh.generator(seq.seed + 7, device), dtype=torch.float64, device=device)
    g = g.to(dtype)
    leaves = [x.detach().clone().requires_grad_(True) for x in (seq.q, seq.k, seq.v)]
    out = call(impl, *leaves, w, kind=kind, causal=causal, key_mask=mask, **options)
    grads = torch.autograd.grad(out, leaves, g)
    declared = precision_of(impl, dtype)
    reference, allowances = gradients_on_same_features(
        impl, *leaves, w, g, kind=kind, causal=causal, key_mask=mask, precision=declared, out_dtype=dtype
    )
    _, coarse = gradients_on_same_features(
        impl, *leaves, w, g, kind=kind, causal=causal, key_mask=mask, precision=Precision(dtype, dtype), out_dtype=dtype
    )
    for name, got, expected, allowance, wide in zip("qkv", grads, reference, allowances, coarse, strict=True):
        what = f"d{name} of {dtype} attention vs float64 autograd on the same features"
        context = dict(kind=kind, m=m, masked=mask is not None, **options, **seq.describe())
        assert_close(what + " (input-dtype allowance)", got, expected, rtol=0.0, atol=wide, saturate=dtype, **context)
        try:
            assert_close(what, got, expected, rtol=0.0, atol=allowance, saturate=dtype, **context)
        except PropertyViolation as err:
            raise PropertyViolation(str(err), severity="fragile") from None


def _float64_on_same_features(impl, q, k, v, w, *, causal: bool, key_mask):
    """Ŷ in float64 from ``feature_map``'s float64 features of the (rounded) inputs, in linear time
    (prefix sums when causal), with the absolute sums the allowance needs: (Ŷ, Σ|φq||φk||v|,
    Σ|φq||φk|, |D̂|), each ``[..., L, ·]``."""
    q64, k64, v64, w64 = (x.detach().double() for x in (q, k, v, w))
    qf = impl.feature_map(scaled(q64), w64, kind="positive").double()
    kf = impl.feature_map(scaled(k64), w64, kind="positive").double()
    if key_mask is not None:
        kf = kf * key_mask.unsqueeze(-1)
    v1 = torch.cat([v64, torch.ones_like(v64[..., :1])], dim=-1)

    def contract(qf, kf, v1):
        if causal:
            return torch.einsum("...lf,...lfc->...lc", qf, (kf.unsqueeze(-1) * v1.unsqueeze(-2)).cumsum(dim=-3))
        return qf @ (kf.transpose(-2, -1) @ v1)

    num = contract(qf, kf, v1)
    absolute = contract(qf.abs(), kf.abs(), v1.abs())
    return num[..., :-1] / num[..., -1:], absolute[..., :-1], absolute[..., -1:], num[..., -1:].abs()


def _long_allowance(impl, q, k, w, y, num_abs, den_abs, den, *, dtype, causal: bool) -> torch.Tensor:
    """The allowance of ``quadratic_on_same_features`` with the summation length of each row: i + 1
    keys when causal, L otherwise (MATH "Rounding allowances")."""
    precision = precision_of(impl, dtype)
    queries, keys = y.shape[-2], k.shape[-2]
    if causal:
        rows = torch.arange(1, queries + 1, dtype=torch.float64, device=y.device)
    else:
        rows = torch.full((queries,), float(keys), dtype=torch.float64, device=y.device)
    norms = scaled(q.double()).norm(dim=-1).amax() + scaled(k.double()).norm(dim=-1).amax()
    exponent = float(w.double().norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[0]))
    epsilon = term_error(
        d=q.shape[-1],
        exponent=exponent,
        features=w.shape[0],
        length=rows,
        products=unit_roundoff(precision.products),
        accumulation=accumulation_roundoff(precision.accumulation),
    ).unsqueeze(-1)
    return quotient_allowance(epsilon, num_abs, den_abs, den, y, dtype)


def _crossing_length(impl, q, k, v, w, *, dtype, key_mask, options) -> tuple[int, float]:
    """Bidirectional: the shortest key prefix (bisection over lengths) whose output already exceeds
    its allowance, and the worst error/allowance ratio there."""

    def excess(n: int) -> float:
        mask = None if key_mask is None else key_mask[..., :n]
        out = call(impl, q, k[..., :n, :], v[..., :n, :], w, key_mask=mask, **options).double()
        y, num_abs, den_abs, den = _float64_on_same_features(
            impl, q, k[..., :n, :], v[..., :n, :], w, causal=False, key_mask=mask
        )
        bound = _long_allowance(impl, q, k[..., :n, :], w, y, num_abs, den_abs, den, dtype=dtype, causal=False)
        return float(((out - y).abs() / bound).nan_to_num(nan=0.0).amax())

    low, high = 1, k.shape[-2]
    while low < high:
        mid = (low + high) // 2
        if excess(mid) > 1:
            high = mid
        else:
            low = mid + 1
    return low, excess(low)


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention", "feature_map", "feature:positive")
@pytest.mark.dtypes("float32", "bfloat16", "float16")
@given(data=st.data())
def test_long_sequences_in_low_precision_keep_every_token(impl, device, dtype, mode, data):
    """At L up to 4096 the output still equals the float64 computation on the same rounded inputs and
    features, within the allowance for products in the declared precision and sums over the sequence
    accumulated in at least fp32 (γ of the summation length each row has: i + 1 keys causal, L
    bidirectional). A running sum kept in bf16/fp16 stops absorbing a token once it falls below
    half an ulp of the sum (2⁻⁹ relative in bf16), so late tokens are silently dropped: the headline
    names the length at which the error crossed the bound, and by how much."""
    causal = mode == "causal"
    longest = min(LONGEST, impl.max_length or LONGEST)
    lengths = [n for n in (1024, 2048, 4096) if n <= longest] or [longest]
    length = data.draw(st.one_of(st.sampled_from(lengths), st.integers(min(256, longest), longest)), label="L")
    seq = data.draw(
        hh.sequences(device=device, min_len=length, max_len=length, batch=hh.batch_shapes(1, 2)), label="inputs"
    ).cast(dtype)
    m = data.draw(st.integers(1, 32), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device), dtype)
    mask = draw_mask(data, impl, seq.k, seq.seed)
    options = data.draw(chunk_sizes(impl), label="chunk")
    out = call(impl, seq.q, seq.k, seq.v, w, causal=causal, key_mask=mask, **options).double()
    y, num_abs, den_abs, den = _float64_on_same_features(impl, seq.q, seq.k, seq.v, w, causal=causal, key_mask=mask)
    bound = _long_allowance(impl, seq.q, seq.k, w, y, num_abs, den_abs, den, dtype=dtype, causal=causal)
    ratio = ((out - y).abs() / bound).nan_to_num(nan=0.0)
    nan_pattern = out.isnan() != y.isnan()
    if not (ratio <= 1).all() or nan_pattern.any():
        context = dict(m=m, masked=mask is not None, **options, **seq.describe())
        if causal:
            bad = ((ratio > 1) | nan_pattern).reshape(-1, length, ratio.shape[-1]).any(0).any(-1)
            position = int(bad.nonzero()[0])
            fail(
                f"{dtype} causal attention over L = {length} vs float64 on the same features: the error first "
                f"exceeds the bound at position {position} (sum of {position + 1} keys), by "
                f"{float(ratio[..., position, :].max()):.3g}×; worst {float(ratio.max()):.3g}×",
                **context,
            )
        crossing, excess = _crossing_length(impl, seq.q, seq.k, seq.v, w, dtype=dtype, key_mask=mask, options=options)
        fail(
            f"{dtype} bidirectional attention over L = {length} vs float64 on the same features: the error "
            f"exceeds the bound from {crossing} keys on (by {excess:.3g}× there); at L = {length} by "
            f"{float(ratio.max()):.3g}×",
            **context,
        )
