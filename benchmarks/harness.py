"""Timing that is correct on a GPU: synchronised rounds, warm-up outside, rotated inputs.

``pytest-benchmark`` times a Python call with ``time.perf_counter``; CUDA kernels are launched
asynchronously, so the timed function here ends with ``torch.cuda.synchronize`` and the untimed
setup of every round synchronises too (the GPU is idle when the clock starts). Warm-up rounds run
first and outside the measurement (cuBLAS/cuDNN heuristics, lazy initialisation, allocator
growth). When one set of inputs is smaller than the last-level cache, rounds rotate through a few
copies, so that a round does not find its inputs already cached by the previous one.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.cases import Case

__all__ = [
    "Inputs",
    "Step",
    "available_bytes",
    "cache_bytes",
    "copy_bandwidth",
    "make_inputs",
    "make_step",
    "run",
    "synchronize",
]

WARMUP_ROUNDS = {"cpu": 1, "cuda": 3}
MAX_INPUT_COPIES = 4
_CPU_CACHE_FALLBACK = 32 * 2**20
_COPY_BYTES = {"cuda": 2**30, "cpu": 2**28}
_COPY_REPEATS = 5

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], object]


def synchronize(device: torch.device) -> None:
    """Wait for every queued kernel on ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def cache_bytes(device: torch.device) -> int:
    """Last-level cache: the GPU's L2, or the largest CPU cache in sysfs (32 MiB if unreadable)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).L2_cache_size
    sizes = [_size(p.read_text()) for p in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size")]
    return max(sizes, default=_CPU_CACHE_FALLBACK)


def available_bytes(device: torch.device) -> int:
    """Total memory of the device (GPU memory, or physical RAM)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@cache
def copy_bandwidth(device: torch.device) -> float:
    """Bytes per second of one large copy on ``device`` (read + write counted), fastest of a few:
    the bandwidth behind the I/O floor of :mod:`benchmarks.history`."""
    size = _COPY_BYTES.get(device.type, _COPY_BYTES["cpu"])
    src = torch.empty(size, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    best = math.inf
    for _ in range(_COPY_REPEATS):
        synchronize(device)
        start = time.perf_counter()
        dst.copy_(src)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size / best


@dataclass(frozen=True)
class Inputs:
    """``copies`` independent (q, k, v) triples ``[batch, heads, L, d]`` and one output gradient."""

    copies: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...]
    grad_out: torch.Tensor


def make_inputs(case: Case, device: torch.device, *, seed: int = 0) -> Inputs:
    """q, k, v ~ N(0, 1) from a seeded generator; as many copies as the cache rule asks for."""
    generator = torch.Generator(device=device).manual_seed(seed)
    shape = (case.batch, case.heads, case.length, case.d)

    def draw() -> torch.Tensor:
        x = torch.randn(shape, generator=generator, device=device).to(case.dtype)
        return x.requires_grad_(case.backward)

    one_triple = 3 * math.prod(shape) * torch.empty((), dtype=case.dtype).element_size()
    cache = cache_bytes(device)
    count = 1 if one_triple >= cache else min(MAX_INPUT_COPIES, 1 + math.ceil(cache / one_triple))
    copies = tuple((draw(), draw(), draw()) for _ in range(count))
    return Inputs(copies, torch.randn(shape, generator=generator, device=device).to(case.dtype))


def make_step(attention: Callable[..., torch.Tensor], inputs: Inputs, *, backward: bool) -> Step:
    """The work of one round: the forward, or the forward and the gradients of q, k and v."""
    if not backward:
        return attention

    def forward_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> object:
        return torch.autograd.grad(attention(q, k, v), (q, k, v), inputs.grad_out)

    return forward_backward


def run(
    benchmark: BenchmarkFixture, step: Step, inputs: Inputs, device: torch.device, *, max_time: float,
    min_rounds: int,
) -> dict[str, int]:
    """Warm up, then time ``step`` with ``benchmark.pedantic``: one call per round, as many rounds
    as fill ``max_time`` seconds (at least ``min_rounds``). Returns the choices, for extra_info."""
    rotation = itertools.cycle(inputs.copies)

    def setup() -> tuple[tuple[torch.Tensor, ...], dict]:
        args = next(rotation)
        synchronize(device)
        return args, {}

    def target(*args: torch.Tensor) -> None:
        step(*args)
        synchronize(device)

    warmup = WARMUP_ROUNDS.get(device.type, 1)
    for _ in range(warmup):
        args, _ = setup()
        start = time.perf_counter()
        target(*args)
        estimate = time.perf_counter() - start
    rounds = max(min_rounds, math.ceil(max_time / max(estimate, 1e-9)))
    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)
    return {"warmup_rounds": warmup, "rounds": rounds, "input_copies": len(inputs.copies)}
