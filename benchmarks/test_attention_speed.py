"""Attention speed: FAVOR+ (PyTorch, Triton, compiled) against exact attention, SDPA, fla and
``--favor-impl``, per :mod:`benchmarks.cases`.

Run ``pytest benchmarks --benchmark-only`` (``-m smoke`` for the CI subset, ``--favor-device cuda`` on
a GPU); see ``benchmarks/README.md`` for saving and comparing runs. Each case is one group, so the
table lists the contenders of one workload side by side. ``extra_info`` records the workload, the
peak memory of one call above its inputs (see :mod:`benchmarks.probe`), the SDPA backend that ran,
the timing choices (warm-up rounds, rounds, input copies) and the device's copy bandwidth (the I/O
floor of :mod:`benchmarks.history`).
"""

from __future__ import annotations

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

import favor
from benchmarks import contenders, harness
from benchmarks.cases import Case
from benchmarks.probe import observe, sdpa_backend
from favor_suite.implementation import Implementation

MEMORY_FRACTION = 0.5


def _skip_reason(contender: str, case: Case, impl: Implementation, device: torch.device) -> str | None:
    if contender == "impl":
        return contenders.impl_unavailable(impl, case)
    if reason := contenders.unavailable(contender, case, device):
        return reason
    need = contenders.quadratic_bytes(contender, case)
    if need > MEMORY_FRACTION * harness.available_bytes(device):
        return f"{contender} needs ~{need / 2**30:.0f} GiB for its L×L tensors on {device}"
    return None


def test_attention(
    benchmark: BenchmarkFixture,
    request: pytest.FixtureRequest,
    case: Case,
    contender: str,
    impl: Implementation,
    device: torch.device,
) -> None:
    """Time ``contender`` on ``case`` (one group per case); skip what cannot run here."""
    reason = _skip_reason(contender, case, impl, device)
    if reason:
        pytest.skip(reason)
    projection = favor.draw_projection(
        case.m, case.d, generator=torch.Generator().manual_seed(0), orthogonal=True, dtype=torch.float32, device=device
    )
    inputs = harness.make_inputs(case, device)
    attention = contenders.build(contender, case, projection=projection, impl=impl, inputs=inputs.copies)
    step = harness.make_step(attention, inputs, backward=case.backward)

    benchmark.group = case.id
    benchmark.extra_info.update(
        contender=impl.name if contender == "impl" else contender,
        length=case.length, m=case.m, d=case.d, batch=case.batch, heads=case.heads, causal=case.causal,
        dtype=str(case.dtype).removeprefix("torch."), passes="forward+backward" if case.backward else "forward",
        device=str(device), copy_bytes_per_s=harness.copy_bandwidth(device),
    )
    timing = harness.run(
        benchmark, step, inputs, device,
        max_time=float(request.config.getoption("benchmark_max_time")),
        min_rounds=int(request.config.getoption("benchmark_min_rounds")),
    )
    seen = observe(lambda: step(*inputs.copies[0]), device)
    benchmark.extra_info.update(timing, peak_memory_bytes=seen.peak_bytes, memory_method=seen.memory_method)
    if contender == "sdpa":
        benchmark.extra_info["sdpa_backend"] = sdpa_backend(seen.ops)
