"""Causality, masking and NaN isolation (MATH 1, 19).

Query i of causal attention may depend on tokens j ≤ i only. A correct scan adds exact zeros for
the pairs it masks, so finite changes to tokens after i leave causal outputs 0..i **bit-identical**
(strict causality). An implementation whose past moves is reported *fragile* when the movement is
within the rounding allowance (a future-dependent rounding, e.g. a global key max that cancels
only in exact arithmetic) and *wrong* beyond it (a leak). If two identical calls already differ
(atomics, split reductions: see ``test_identical_inputs_give_bit_identical_outputs``), only the
rounding allowance is asserted. A NaN reaches exactly the outputs that depend on it.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from favor_suite import strategies as hh
from favor_suite.assertions import assert_close, fail
from favor_suite.attention_cases import call, chunk_sizes, draw_problem, quadratic_on_same_features


def _causal_problem(data, device, kind, dtype=torch.float64):
    seq, w = draw_problem(data, device, kind=kind, min_len=2, max_len=48)
    cut = data.draw(st.integers(0, seq.q.shape[-2] - 2), label="last unchanged position i")
    return seq.cast(dtype), w.to(dtype), cut


def _assert_past_unchanged(impl, seq, w, kind, cut, options, changed: dict[str, torch.Tensor]) -> None:
    """Causal outputs 0..cut after each change (name → output) equal those of the unchanged inputs:
    first to the rounding allowance (doubled: two computations; beyond it the past *leaks*, wrong),
    then bit for bit (otherwise *fragile*: a future-dependent rounding), unless two identical calls
    already differ (then only the allowance is asserted)."""
    before = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, **options)
    head = (..., slice(0, cut + 1), slice(None))
    moved = {c: a for c, a in changed.items() if not torch.equal(a[head].nan_to_num(), before[head].nan_to_num())}
    if not moved:
        return
    _, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, dtype=seq.q.dtype)
    context = dict(kind=kind, **options, **seq.describe())
    for change, after in moved.items():
        what = f"causal outputs 0..{cut} after {change}"
        assert_close(what, after[head], before[head], rtol=0.0, atol=2 * allowance[head], **context)
    if not torch.equal(before, call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, **options)):
        return
    change, after = next(iter(moved.items()))
    shift = float((after[head].double() - before[head].double()).abs().max())
    fail(
        f"causal outputs 0..{cut} after {change}: not bit-identical although the implementation is "
        f"deterministic — the past moved by {shift:.3e}, within rounding (allowance "
        f"{float(2 * allowance[head].max()):.3e}): a future-dependent rounding (a correct scan adds exact "
        "zeros for the pairs it masks)",
        severity="fragile",
        **context,
    )


@pytest.mark.requires("attention", "feature_map", "causal")
@pytest.mark.dtypes("float64", "float32")
@given(data=st.data())
def test_future_tokens_do_not_change_past_outputs(impl, device, kind, dtype, data):
    """Replacing q, k, v at positions > i by other values, and (separately) making the keys there
    50× larger — a future-dependent stabilizer then underflows the past — leaves causal outputs
    0..i bit-identical."""
    seq, w, cut = _causal_problem(data, device, kind, dtype)
    options = data.draw(chunk_sizes(impl), label="chunk")
    gen = hh.generator(seq.seed + 5, device)
    tail = (..., slice(cut + 1, None), slice(None))
    resampled = [x.clone() for x in (seq.q, seq.k, seq.v)]
    for x in resampled:
        fresh = torch.randn(x[tail].shape, generator=gen, dtype=torch.float64, device=device)
        x[tail] = (fresh * x.abs().amax()).to(dtype)
    huge = seq.k.clone()
    huge[tail] = huge[tail] * 50 + 1
    changed = {
        f"resampling tokens > {cut}": call(impl, *resampled, w, kind=kind, causal=True, **options),
        f"keys > {cut} made 50× larger": call(impl, seq.q, huge, seq.v, w, kind=kind, causal=True, **options),
    }
    _assert_past_unchanged(impl, seq, w, kind, cut, options, changed)


@pytest.mark.requires("attention", "feature_map", "causal", "key_mask")
@given(data=st.data())
def test_masking_future_keys_does_not_change_past_outputs(impl, device, kind, data):
    """Masking keys after position i leaves causal outputs 0..i bit-identical."""
    seq, w, cut = _causal_problem(data, device, kind)
    options = data.draw(chunk_sizes(impl), label="chunk")
    mask = torch.ones(seq.k.shape[:-1], dtype=torch.bool, device=device)
    mask[..., cut + 1 :] = False
    after = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=True, key_mask=mask, **options)
    _assert_past_unchanged(impl, seq, w, kind, cut, options, {f"masking keys > {cut}": after})


@pytest.mark.requires("attention", "feature_map", "key_mask")
@given(data=st.data())
def test_padding_mask_equals_truncation(impl, device, kind, mode, data):
    """Masking the keys after position p equals running on keys and values truncated to p + 1
    (the masked keys leave the normalizer too)."""
    causal = mode == "causal"
    seq, w = draw_problem(data, device, kind=kind, min_len=2)
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


@pytest.mark.severity("fragile")
@pytest.mark.requires("attention", "feature_map")
@pytest.mark.parametrize("which", ["q", "k", "v"])
@given(data=st.data())
def test_nan_reaches_exactly_its_dependents(impl, device, kind, mode, which, data):
    """A NaN (or ±inf) in q_j, k_j or v_jc makes NaN exactly the outputs that depend on it — row j;
    rows ≥ j (causal) or all rows (bidirectional); column c of those rows — and leaves every
    other output as it was, never a silent finite wrong number."""
    causal = mode == "causal"
    seq, w = draw_problem(data, device, kind=kind, min_len=2, max_len=48)
    length, width = seq.q.shape[-2], seq.v.shape[-1]
    pos = data.draw(st.integers(0, length - 2), label="position j (outputs after it exist)")
    bad = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]), label="value")
    col = data.draw(st.integers(0, (width if which == "v" else seq.q.shape[-1]) - 1), label=f"{which} column")
    options = data.draw(chunk_sizes(impl), label="chunk") if causal else {}
    clean = call(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal, **options)
    _, allowance = quadratic_on_same_features(impl, seq.q, seq.k, seq.v, w, kind=kind, causal=causal)
    inputs = {"q": seq.q.clone(), "k": seq.k.clone(), "v": seq.v.clone()}
    inputs[which][..., pos, col] = bad
    out = call(impl, inputs["q"], inputs["k"], inputs["v"], w, kind=kind, causal=causal, **options)
    expected_nan = _expected_nan(out.shape, which, pos, col, causal, device)
    observed_nan = ~torch.isfinite(out)
    if not torch.equal(observed_nan, expected_nan):
        missing = (expected_nan & ~observed_nan).nonzero()
        extra = (observed_nan & ~expected_nan).nonzero()
        fail(
            f"{bad} in {which}[{pos}, {col}] ({mode}): {len(missing)} dependent outputs stayed finite, "
            f"{len(extra)} independent outputs became non-finite"
            + (f"; first finite-but-dependent at {tuple(missing[0].tolist())}" if len(missing) else "")
            + (f"; first contaminated at {tuple(extra[0].tolist())}" if len(extra) else ""),
            kind=kind,
            **options,
            **seq.describe(),
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
