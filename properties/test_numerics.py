"""Numerics and dtypes (issue 4).

Claimed range (``reference.rounding.finite_input_radius``): positive-feature attention is finite,
with finite gradients, whenever ‖q̃‖, ‖k̃‖ ≤ R = ln(1/tiny)/(2·max_r‖ω_r‖), tiny the smallest
normal number of the compute dtype (fp32 for fp16/bf16/fp32, fp64 for fp64). Low-precision
results agree with float64 on the same (rounded) inputs and features to the compute dtype's
rounding bound, plus one rounding to the output dtype.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from properties import strategies as hh
from properties.assertions import PropertyViolation, assert_close, fmt_context
from properties.attention_cases import call, chunk_sizes, gaussian_projection, quadratic_on_same_features
from properties.plugin import requires
from reference.rounding import finite_input_radius

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _dtype(data, impl):
    name = data.draw(st.sampled_from(sorted(DTYPES)), label="dtype")
    requires(impl, f"dtype:{name}")
    return DTYPES[name]


@given(data=st.data())
def test_outputs_and_gradients_are_finite_in_the_claimed_range(impl, device, data):
    """‖q̃‖, ‖k̃‖ up to the claimed radius R(dtype, ω), structured inputs included: outputs (and,
    with autograd, gradients of q, k, v) are finite in every supported dtype."""
    requires(impl, "attention", "feature:positive")
    dtype = _dtype(data, impl)
    causal = data.draw(st.booleans(), label="causal")
    if causal:
        requires(impl, "causal")
    d = data.draw(hh.dims(64), label="d")
    m = data.draw(st.integers(1, 128), label="m")
    length = data.draw(st.integers(1, 40), label="L")
    gen = hh.generator(data.draw(hh.seeds(), label="seed"), device)
    w = gaussian_projection(m, d, gen)
    radius = finite_input_radius(dtype, float(w.norm(dim=-1).amax()))
    fraction = data.draw(st.floats(0.5, 1.0), label="fraction of R")
    structures = [data.draw(st.sampled_from(hh.STRUCTURES), label=f"{n} structure") for n in "qk"]
    q, k = (hh.structured_vectors(s, length, d, fraction * radius * d**0.25, gen) for s in structures)
    v = torch.randn(length, 3, generator=gen, dtype=torch.float64, device=device)
    q, k, v, w = (x.to(dtype).requires_grad_(impl.autograd) for x in (q, k, v, w))
    options = data.draw(chunk_sizes(impl), label="chunk") if causal else {}
    out = call(impl, q, k, v, w, causal=causal, **options)
    context = fmt_context(dtype=dtype, d=d, m=m, L=length, radius=radius, fraction=fraction, structures=structures)
    if not torch.isfinite(out).all():
        raise PropertyViolation(
            f"{int((~torch.isfinite(out)).sum())} non-finite outputs at ‖q̃‖, ‖k̃‖ ≤ "
            f"{fraction * radius:.3g} (claimed finite up to {radius:.3g})\n{context}"
        )
    if out.dtype != dtype:
        raise PropertyViolation(f"output dtype {out.dtype} for {dtype} inputs\n{context}")
    if impl.autograd:
        out.float().square().sum().backward()
        for name, x in (("q", q), ("k", k), ("v", v)):
            if x.grad is None or not torch.isfinite(x.grad).all():
                raise PropertyViolation(
                    f"gradient of {name} is missing or non-finite within the claimed range\n{context}"
                )


@given(data=st.data())
def test_low_precision_matches_float64_on_the_same_features(impl, device, data):
    """float32, bfloat16 and float16 inputs give the float64 quadratic result on the same rounded
    inputs and projection, within the compute dtype's rounding bound (fp32 accumulation) plus one
    rounding to the output dtype (``reference.rounding``)."""
    requires(impl, "attention", "feature_map", "feature:positive")
    dtype = _dtype(data, impl)
    causal = data.draw(st.booleans(), label="causal")
    if causal:
        requires(impl, "causal")
    seq = data.draw(hh.sequences(device=device), label="inputs")
    m = data.draw(st.integers(1, 64), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device), dtype)
    q, k, v = (x.to(dtype) for x in (seq.q, seq.k, seq.v))
    out = call(impl, q, k, v, w, causal=causal)
    expected, allowance = quadratic_on_same_features(impl, q, k, v, w, causal=causal, dtype=dtype)
    assert_close(
        f"{dtype} attention vs float64 on the same rounded inputs",
        out,
        expected,
        rtol=0.0,
        atol=allowance,
        causal=causal,
        m=m,
        **seq.describe(),
    )


@settings(max_examples=10)
@given(data=st.data())
def test_gradcheck_in_float64(impl, device, data):
    """torch.autograd.gradcheck (finite differences, eps = 1e-6, torch's default atol 1e-5 and
    rtol 1e-3) on small float64 problems: bidirectional, causal, masked."""
    requires(impl, "attention", "autograd", "dtype:float64")
    causal = data.draw(st.booleans(), label="causal")
    if causal:
        requires(impl, "causal")
    masked = data.draw(st.booleans(), label="masked") and impl.key_mask
    seq = data.draw(hh.sequences(device=device, max_len=6, max_d=4, max_dv=3, batch=st.just(())), label="inputs")
    kind = data.draw(st.sampled_from(impl.feature_kinds), label="kind")
    w = gaussian_projection(
        data.draw(st.integers(1, 8), label="m"), seq.q.shape[-1], hh.generator(seq.seed + 1, device)
    )
    mask = None
    if masked:
        mask = torch.ones(seq.k.shape[:-1], dtype=torch.bool, device=device)
        mask[..., -1] = seq.k.shape[-2] == 1  # drop the last key unless it is the only one
    q, k, v = (x.detach().clone().requires_grad_(True) for x in (seq.q, seq.k, seq.v))
    ok = torch.autograd.gradcheck(
        lambda q, k, v: call(impl, q, k, v, w, kind=kind, causal=causal, key_mask=mask),
        (q, k, v),
        raise_exception=False,
    )
    if not ok:
        raise PropertyViolation(
            f"gradcheck failed (kind {kind}, causal {causal}, masked {masked})\n" + fmt_context(**seq.describe())
        )
