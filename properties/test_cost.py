"""Linear cost, proved deterministically (MATH 29-31). Linear cost is the promise of the algorithm,
not a law of its output: a failure here is a *contract* failure. Cost does not depend on the
feature kind: each test runs the first kind the implementation declares.

``FlopCounterMode`` counts matmul-like ops: for a linear-time algorithm the count is exactly
affine in L — its increment doubles when L doubles (forward and backward) — while exact
attention's increment quadruples. A
``TorchDispatchMode`` records the shape of every intermediate: no tensor may have two dimensions
≥ L (no L×L matrix), none may hold L·m·dv numbers (no materialised prefix states), and the
largest grows linearly. L is chosen larger than, and distinct from, m, d and dv.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from favor_suite.assertions import PropertyViolation, fmt_context
from favor_suite.attention_cases import call, gaussian_projection
from favor_suite.audit import LiveTensorBytes, ShapeAudit
from favor_suite.strategies import generator

pytestmark = pytest.mark.severity("contract")

LENGTHS = (128, 256, 512)
D, M, DV, BATCH = 16, 32, 8, (1,)


def _inputs(length: int, device, requires_grad: bool = False):
    gen = generator(length, device)
    q, k = (0.5 * torch.randn(*BATCH, length, D, generator=gen, device=device) for _ in range(2))
    v = torch.randn(*BATCH, length, DV, generator=gen, device=device)
    for x in (q, k, v):
        x.requires_grad_(requires_grad)
    return q, k, v, gaussian_projection(M, D, gen, torch.float32)


def _flops(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def _exact_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def _check_scaling(what: str, counts: dict[int, int], power: int) -> None:
    """With L, 2L, 4L: a count affine in L has f(4L) − f(2L) = 2·(f(2L) − f(L)) exactly (a
    one-off term, such as the first causal chunk having no incoming state, cancels); a count
    quadratic in L (a·L² + b·L + c) has 4× instead of 2×. ``power`` is the exponent expected."""
    small, mid, big = (counts[length] for length in LENGTHS)
    first, second = mid - small, big - mid
    if first <= 0:
        raise PropertyViolation(
            f"{what}: FlopCounterMode saw no FLOPs growing with L (counts {counts}): matmuls outside aten "
            "(declare flop_countable=False for fused kernels)"
        )
    if second != 2**power * first:
        raise PropertyViolation(
            f"{what}: FLOP increments {first} (L {LENGTHS[0]}→{LENGTHS[1]}) and {second} "
            f"(L {LENGTHS[1]}→{LENGTHS[2]}); {'linear' if power == 1 else 'quadratic'} cost needs exactly "
            f"{2**power}× — the second is {second / first:.3f}×\n" + fmt_context(counts=counts)
        )


@pytest.mark.requires("attention", "torch_ops", "flop_countable")
def test_flops_double_exactly_when_length_doubles(impl, device, mode):
    """Forward, and forward + backward, FLOP counts are exactly affine in L (MATH 29-31): the
    increment doubles when L doubles. Exact softmax attention, counted the same way, has
    increments that quadruple (the counter is not blind)."""
    causal = mode == "causal"
    kind = impl.feature_kinds[0]
    forward, both, exact = {}, {}, {}
    for length in LENGTHS:
        q, k, v, w = _inputs(length, device)
        forward[length] = _flops(lambda *a: call(impl, *a, kind=kind, causal=causal), q, k, v, w)
        exact[length] = _flops(_exact_attention, q, k, v)
        if impl.autograd:
            grads = _inputs(length, device, requires_grad=True)
            both[length] = _flops(lambda *a: call(impl, *a, kind=kind, causal=causal).sum().backward(), *grads)
    _check_scaling(f"{'causal' if causal else 'bidirectional'} forward", forward, 1)
    if both:
        _check_scaling(f"{'causal' if causal else 'bidirectional'} forward + backward", both, 1)
    _check_scaling("exact attention (sanity)", exact, 2)


@pytest.mark.requires("attention", "torch_ops")
def test_no_quadratic_or_prefix_state_tensor_is_created(impl, device, mode):
    """Forward and backward: no intermediate has two dimensions ≥ L, none holds L·m·dv numbers,
    and the largest intermediate at 2L is at most twice the largest at L (MATH 30-31)."""
    causal = mode == "causal"
    largest = {}
    for length in LENGTHS[1:]:
        q, k, v, w = _inputs(length, device, requires_grad=impl.autograd)
        with ShapeAudit() as audit:
            out = call(impl, q, k, v, w, kind=impl.feature_kinds[0], causal=causal)
            if impl.autograd:
                out.sum().backward()
        for op, shape in audit.records:
            if sum(1 for s in shape if s >= length) >= 2:
                raise PropertyViolation(
                    f"{op} produced a {shape} tensor: two dimensions ≥ L = {length} "
                    f"({'causal' if causal else 'bidirectional'})"
                )
            if math.prod(shape) >= length * M * DV:
                raise PropertyViolation(
                    f"{op} produced a {shape} tensor holding ≥ L·m·dv = {length * M * DV} "
                    f"numbers: prefix states materialised"
                )
        largest[length] = max(math.prod(shape) for _, shape in audit.records)
    small, big = LENGTHS[1], LENGTHS[2]
    if largest[big] > 2 * largest[small] * big // (2 * small):
        raise PropertyViolation(
            f"largest intermediate grows faster than L: {largest[small]} numbers at L = {small}, "
            f"{largest[big]} at L = {big}"
        )


@pytest.mark.requires("attention", "causal")
def test_peak_cuda_memory_grows_linearly(impl, device):
    """On a CUDA device, causal, m = dv = 64: the peak allocated memory above the inputs grows by
    less than one m×dv prefix state per extra token from L = 16384 to 32768, and at most doubles —
    the criterion of ``test_live_memory_holds_no_prefix_states`` (MATH 30), measured with
    ``torch.cuda.max_memory_allocated`` (which also sees memory inside fused kernels' allocations)."""
    if device.type != "cuda":
        pytest.skip("peak CUDA memory needs --favor-device=cuda")
    m, dv, peaks = 64, 64, {}
    for length in (16384, 32768):
        gen = generator(length, device)
        q, k = (0.5 * torch.randn(1, length, D, generator=gen, device=device) for _ in range(2))
        v = torch.randn(1, length, dv, generator=gen, device=device)
        w = gaussian_projection(m, D, gen, torch.float32)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.no_grad():
            call(impl, q, k, v, w, kind=impl.feature_kinds[0], causal=True)
        torch.cuda.synchronize(device)
        peaks[length] = torch.cuda.max_memory_allocated(device) - base
    per_token = (peaks[32768] - peaks[16384]) / 16384
    if not per_token < m * dv * 4 or peaks[32768] > 2 * peaks[16384]:
        raise PropertyViolation(
            f"peak CUDA memory grows by {per_token:.0f} bytes per token (one m×dv state is {m * dv * 4}) or "
            f"more than doubles: {peaks}"
        )


@pytest.mark.requires("attention", "torch_ops")
def test_live_memory_holds_no_prefix_states(impl, device, mode):
    """Forward, no autograd, m = dv = 64: each extra token may add less live memory than one m×dv
    prefix state, (peak(2L) − peak(L))/L < m·dv·itemsize — which also catches prefix states split
    into many chunk tensors — and the peak grows at most linearly, peak(2L) ≤ 2·peak(L) (MATH 30).
    A linear-time scan needs O(m + d + dv) per token, well under m·dv = 4096 numbers."""
    causal = mode == "causal"
    m, dv, peaks = 64, 64, {}
    for length in LENGTHS[1:]:
        gen = generator(length, device)
        q, k = (0.5 * torch.randn(1, length, D, generator=gen, device=device) for _ in range(2))
        v = torch.randn(1, length, dv, generator=gen, device=device)
        with torch.no_grad(), LiveTensorBytes() as audit:
            call(
                impl, q, k, v, gaussian_projection(m, D, gen, torch.float32), kind=impl.feature_kinds[0], causal=causal
            )
        peaks[length] = audit.peak
    small, big = LENGTHS[1], LENGTHS[2]
    per_token = (peaks[big] - peaks[small]) / (big - small)
    state = m * dv * 4

    if not per_token < state:
        raise PropertyViolation(
            f"each extra token holds {per_token:.0f} more live bytes, ≥ one m×dv state "
            f"({state} bytes): prefix states materialised ({mode}); peaks {peaks}"
        )
    if peaks[big] > 2 * peaks[small]:
        raise PropertyViolation(f"peak live memory grows faster than L ({mode}): {peaks}")
