"""Forward time against sequence length, and the log-log slope of each contender.

FAVOR+ costs O(L·m·d) (MATH 29-30), exact attention O(L²·d): on a log-log plot their slopes tend
to 1 and 2. Timed with :class:`torch.utils.benchmark.Timer` (``blocked_autorange``: warm-up, then
blocks of calls until ``min_run_time``; it synchronises CUDA itself), on the inputs and contenders
of the pytest benchmarks (:mod:`benchmarks.contenders`). The time reported is the *fastest* block's
time per call: interference from other processes only ever adds time, and on a shared machine it
comes in bursts that shift a median by 10× (seen on the 2-core machine of RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils import benchmark as tbench

import favor
from benchmarks import contenders, harness
from benchmarks.cases import Case

__all__ = ["CONTENDERS", "Curve", "fit_slope", "lengths_for", "measure"]

CONTENDERS: tuple[str, ...] = ("favor-torch", "exact", "sdpa")


@dataclass(frozen=True)
class Curve:
    """Forward seconds per call (fastest block) of one contender at each length it could run."""

    contender: str
    causal: bool
    lengths: tuple[int, ...]
    seconds: tuple[float, ...]


def lengths_for(device: torch.device) -> tuple[int, ...]:
    """256…8192 on CPU, 1024…65536 on CUDA (doubling)."""
    low, high = (1024, 65536) if device.type == "cuda" else (256, 8192)
    return tuple(2**p for p in range(low.bit_length() - 1, high.bit_length()))


def fit_slope(lengths: tuple[int, ...], seconds: tuple[float, ...], *, min_length: int) -> float:
    """Least-squares slope of log(time) on log(L) over the lengths ≥ ``min_length`` (the
    asymptotic regime: at short L fixed per-call overheads flatten every curve)."""
    keep = [(n, t) for n, t in zip(lengths, seconds, strict=True) if n >= min_length]
    x, y = np.log([n for n, _ in keep]), np.log([t for _, t in keep])
    return float(np.polyfit(x, y, 1)[0])


def _time(case: Case, name: str, device: torch.device, min_run_time: float) -> float:
    projection = favor.draw_projection(case.m, case.d, generator=torch.Generator().manual_seed(0), device=device)
    attention = contenders.build(name, case, projection=projection, impl=None)
    q, k, v = harness.make_inputs(case, device).copies[0]
    timer = tbench.Timer(
        stmt="attention(q, k, v)", globals=dict(attention=attention, q=q, k=k, v=v),
        num_threads=torch.get_num_threads(),
    )
    return min(timer.blocked_autorange(min_run_time=min_run_time).times)


def measure(
    device: torch.device, *, lengths: tuple[int, ...], causal: bool, m: int = 128, d: int = 64,
    batch: int = 1, heads: int = 2, min_run_time: float = 0.2,
) -> list[Curve]:
    """Time every contender at every length, forward, fp32; exact attention stops at the first
    length whose L×L tensors would take more than half the device's memory."""
    curves = []
    for name in CONTENDERS:
        done: list[tuple[int, float]] = []
        for length in lengths:
            case = Case(length=length, m=m, d=d, causal=causal, dtype=torch.float32, backward=False,
                        batch=batch, heads=heads)
            if contenders.quadratic_bytes(name, case) > 0.5 * harness.available_bytes(device):
                break
            done.append((length, _time(case, name, device, min_run_time)))
        curves.append(Curve(name, causal, tuple(n for n, _ in done), tuple(t for _, t in done)))
    return curves
