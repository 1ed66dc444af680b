"""Numerics and dtypes.

Claimed range (``reference.rounding.finite_input_radius``): positive-feature attention is finite,
with finite gradients, whenever ‖q̃‖, ‖k̃‖ ≤ R = ln(1/tiny)/(2·max_r‖ω_r‖), tiny the smallest
normal number of the precision the implementation declares for its products. Low-precision
results agree with float64 on the same (rounded) inputs and features to the declared precision's
rounding bound, plus one rounding to the output dtype. Both are exact in exact arithmetic: a
failure is *fragile*; returning another dtype than the input's is a *contract* failure.
"""

from __future__ import annotations

import pytest
import torch
from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, fail
from favor_suite.attention_cases import call, chunk_sizes, gaussian_projection, quadratic_on_same_features
from favor_suite.implementation import precision_of
from favor_suite.reference.rounding import finite_input_radius
from hypothesis import given, settings
from hypothesis import strategies as st

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
    radius = finite_input_radius(precision_of(impl, dtype).products, float(w.norm(dim=-1).amax()))
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


@pytest.mark.requires("attention", "autograd", "dtype:float64")
@settings(max_examples=10)
@given(data=st.data())
def test_gradcheck_in_float64(impl, device, kind, mode, data):
    """torch.autograd.gradcheck (finite differences, eps = 1e-6, torch's default atol 1e-5 and
    rtol 1e-3) on small float64 problems, with a key mask when the implementation has one."""
    causal = mode == "causal"
    seq = data.draw(hh.sequences(device=device, max_len=6, max_d=4, max_dv=3, batch=st.just(())), label="inputs")
    w = gaussian_projection(
        data.draw(st.integers(1, 8), label="m"), seq.q.shape[-1], hh.generator(seq.seed + 1, device)
    )
    mask = None
    if impl.key_mask and data.draw(st.booleans(), label="masked"):
        mask = torch.ones(seq.k.shape[:-1], dtype=torch.bool, device=device)
        mask[..., -1] = seq.k.shape[-2] == 1  # drop the last key unless it is the only one
    q, k, v = (x.detach().clone().requires_grad_(True) for x in (seq.q, seq.k, seq.v))
    ok = torch.autograd.gradcheck(
        lambda q, k, v: call(impl, q, k, v, w, kind=kind, causal=causal, key_mask=mask),
        (q, k, v),
        raise_exception=False,
    )
    if not ok:
        fail(f"gradcheck failed ({mode}, masked {mask is not None})", kind=kind, **seq.describe())
