"""Causality, masking and NaN isolation (issues 2 and 4; MATH 1, 19).

Query i of causal attention may depend on tokens j ≤ i only. Perturbing, masking or NaN-ing
tokens after i must leave outputs ≤ i unchanged — bit-for-bit for value perturbations, where the
algorithm adds exact zeros, and to rounding (``reference.rounding``) where a stabilizer or a
blocked sum may be recomputed. A NaN reaches exactly the outputs that depend on it.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from properties import strategies as hh
from properties.assertions import PropertyViolation, assert_close, fmt_context
from properties.attention_cases import call, chunk_sizes, draw_problem, quadratic_on_same_features
from properties.plugin import requires


def _causal_problem(impl, device, data):
    requires(impl, "attention", "feature_map", "causal")
    seq, w, kind = draw_problem(data, impl, device, min_len=2, max_len=48)
    length = seq.q.shape[-2]
    cut = data.draw(st.integers(0, length - 2), label="last unchanged position i")
    options = data.draw(chunk_sizes(impl), label="chunk")
    return seq, w, kind, cut, options


def _assert_head_unchanged(impl, seq, w, kind, cut, options, after, change: str) -> None:
    """Causal outputs 0..cut of ``after`` equal those of the unchanged inputs, to rounding."""
    before = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, **options)
    _, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True)
    head = (..., slice(0, cut + 1), slice(None))
    assert_close(
        f"causal outputs 0..{cut} after {change}",
        after[head],
        before[head],
        rtol=0.0,
        atol=2 * allowance[head],
        kind=kind,
        **options,
        **seq.describe(),
    )


@given(data=st.data())
def test_future_tokens_do_not_change_past_outputs(impl, device, data):
    """Replacing q, k, v at positions > i — by other values, or keys 50× larger (a future-dependent
    stabilizer would then underflow the past) — leaves causal outputs 0..i unchanged."""
    seq, w, kind, cut, options = _causal_problem(impl, device, data)
    how = data.draw(st.sampled_from(["resample", "huge_keys"]), label="perturbation")
    gen = hh.generator(seq.seed + 5, device)
    q, k, v = seq.q.clone(), seq.k.clone(), seq.v.clone()
    tail = (..., slice(cut + 1, None), slice(None))
    if how == "resample":
        for x in (q, k, v):
            x[tail] = torch.randn(x[tail].shape, generator=gen, dtype=x.dtype, device=device) * x.abs().amax()
    else:
        k[tail] = k[tail] * 50 + 1
    after = call(impl, q, k, v, w, kind=kind, causal=True, **options)
    _assert_head_unchanged(impl, seq, w, kind, cut, options, after, f"changing tokens > {cut} ({how})")


@given(data=st.data())
def test_masking_future_keys_does_not_change_past_outputs(impl, device, data):
    """Masking keys after position i leaves causal outputs 0..i unchanged."""
    seq, w, kind, cut, options = _causal_problem(impl, device, data)
    requires(impl, "key_mask")
    mask = torch.ones(seq.k.shape[:-1], dtype=torch.bool, device=device)
    mask[..., cut + 1 :] = False
    after = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, key_mask=mask, **options)
    _assert_head_unchanged(impl, seq, w, kind, cut, options, after, f"masking keys > {cut}")


@given(data=st.data())
def test_padding_mask_equals_truncation(impl, device, data):
    """Masking the keys after position p equals running on keys and values truncated to p + 1
    (the masked keys leave the normalizer too), bidirectional and causal."""
    requires(impl, "attention", "feature_map", "key_mask")
    causal = data.draw(st.booleans(), label="causal")
    if causal:
        requires(impl, "causal")
    seq, w, kind = draw_problem(data, impl, device, min_len=2)
    length = seq.k.shape[-2]
    keep = data.draw(st.integers(1, length - 1), label="kept keys")
    options = data.draw(chunk_sizes(impl), label="chunk")
    mask = torch.zeros(seq.k.shape[:-1], dtype=torch.bool, device=device)
    mask[..., :keep] = True
    masked = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal, key_mask=mask, **options)
    rows = slice(0, keep) if causal else slice(None)
    truncated = call(
        impl, seq.q[..., rows, :], seq.k[..., :keep, :], seq.v[..., :keep, :], w, kind=kind, causal=causal, **options
    )
    _, allowance = quadratic_on_same_features(
        impl, seq.q[..., rows, :], seq.k[..., :keep, :], seq.v[..., :keep, :], w, kind=kind, causal=causal
    )
    assert_close(
        f"output with keys ≥ {keep} masked vs truncated to {keep}",
        masked[..., rows, :],
        truncated,
        rtol=0.0,
        atol=2 * allowance,
        kind=kind,
        causal=causal,
        **options,
        **seq.describe(),
    )


def _expected_nan(shape, which: str, pos: int, col: int, causal: bool, device) -> torch.Tensor:
    """The outputs that depend on a NaN placed in ``which`` at sequence position ``pos``."""
    nan = torch.zeros(shape, dtype=torch.bool, device=device)
    rows = slice(pos, None) if causal else slice(None)
    if which == "q":
        nan[..., pos, :] = True
    elif which == "k":
        nan[..., rows, :] = True
    else:
        nan[..., rows, col] = True
    return nan


@given(data=st.data())
def test_nan_reaches_exactly_its_dependents(impl, device, data):
    """A NaN (or ±inf) in q_j, then k_j, then v_jc makes NaN exactly the outputs that depend on it — row j; rows
    ≥ j (causal) or all rows (bidirectional); column c of those rows — and leaves every other
    output as it was, never a silent finite wrong number."""
    requires(impl, "attention", "feature_map")
    causal = data.draw(st.booleans(), label="causal")
    if causal:
        requires(impl, "causal")
    seq, w, kind = draw_problem(data, impl, device, min_len=2, max_len=48)
    length, width = seq.q.shape[-2], seq.v.shape[-1]
    pos = data.draw(st.integers(0, length - 2), label="position j (outputs after it exist)")
    bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="value")
    options = data.draw(chunk_sizes(impl), label="chunk") if causal else {}
    clean = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal, **options)
    _, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal)
    for which in ("q", "k", "v"):
        col = data.draw(st.integers(0, (width if which == "v" else seq.q.shape[-1]) - 1), label=f"{which} column")
        inputs = {"q": seq.q.clone(), "k": seq.k.clone(), "v": seq.v.clone()}
        inputs[which][..., pos, col] = bad
        out = call(impl, inputs["q"], inputs["k"], inputs["v"], w, kind=kind, causal=causal, **options)
        expected_nan = _expected_nan(out.shape, which, pos, col, causal, device)
        observed_nan = ~torch.isfinite(out)
        if not torch.equal(observed_nan, expected_nan):
            missing = (expected_nan & ~observed_nan).nonzero()
            extra = (observed_nan & ~expected_nan).nonzero()
            raise PropertyViolation(
                f"{bad} in {which}[{pos}, {col}] ({'causal' if causal else 'bidirectional'}): "
                f"{len(missing)} dependent outputs stayed finite, {len(extra)} independent outputs became non-finite"
                + (f"; first finite-but-dependent at {tuple(missing[0].tolist())}" if len(missing) else "")
                + (f"; first contaminated at {tuple(extra[0].tolist())}" if len(extra) else "")
                + "\n"
                + fmt_context(kind=kind, **options, **seq.describe())
            )
        keep = ~expected_nan
        assert_close(
            f"outputs independent of {which}[{pos}] after poisoning it",
            out[keep],
            clean[keep],
            rtol=0.0,
            atol=2 * allowance[keep],
            kind=kind,
            **seq.describe(),
        )
