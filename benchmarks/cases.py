"""The benchmark grid: which workloads are timed on which device, and which of them are smoke.

A :class:`Case` is one workload ``q, k, v: [batch, heads, length, d]`` (dv = d) with a projection
``[m, d]``; each case is timed for every contender that it lists. The grid is not a full cartesian
product: an L sweep at the default (m, d, fp32, forward) for every contender, then forward+backward,
bf16, an m sweep (FAVOR only: nothing else depends on m) and a d sweep at one length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ALL_CONTENDERS", "FAVOR_CONTENDERS", "Case", "grid"]

ALL_CONTENDERS: tuple[str, ...] = ("favor", "exact", "sdpa", "impl")
FAVOR_CONTENDERS: tuple[str, ...] = ("favor", "impl")

_DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class Case:
    """One workload. ``backward``: time forward + backward (gradients of q, k and v)."""

    length: int
    m: int
    d: int
    causal: bool
    dtype: torch.dtype
    backward: bool
    batch: int
    heads: int
    contenders: tuple[str, ...] = ALL_CONTENDERS
    smoke: bool = False

    @property
    def id(self) -> str:
        """Readable id, also the pytest-benchmark group: ``L4096-m128-d64-causal-fp32-fwd``."""
        mode = "causal" if self.causal else "bidir"
        passes = "fwdbwd" if self.backward else "fwd"
        return f"L{self.length}-m{self.m}-d{self.d}-{mode}-{_DTYPE_NAMES[self.dtype]}-{passes}"


@dataclass(frozen=True)
class _GridSpec:
    lengths: tuple[int, ...]
    backward_lengths: tuple[int, ...]
    sweep_length: int
    m: int
    d: int
    ms: tuple[int, ...]
    ds: tuple[int, ...]
    batch: int
    heads: int
    smoke_lengths: tuple[int, ...]


# CPU: small enough that the whole grid runs in a few minutes on 2 cores (exact attention at
# L = 8192 is ~1 s a call there). CUDA: the shapes of the reference H100 points in RESULTS.md.
_CPU = _GridSpec(
    lengths=(256, 1024, 4096, 8192), backward_lengths=(1024, 4096), sweep_length=4096, m=128, d=64,
    ms=(64, 256), ds=(32, 128), batch=1, heads=2, smoke_lengths=(256, 1024),
)
_CUDA = _GridSpec(
    lengths=(1024, 4096, 16384, 65536), backward_lengths=(4096, 16384), sweep_length=16384, m=256, d=64,
    ms=(128, 512), ds=(32, 128), batch=2, heads=16, smoke_lengths=(1024,),
)


def _cases(spec: _GridSpec) -> list[Case]:
    base = dict(m=spec.m, d=spec.d, dtype=torch.float32, backward=False, batch=spec.batch, heads=spec.heads)
    cases = []
    for causal in (False, True):
        with_causal = dict(base, causal=causal)
        for length in spec.lengths:
            cases.append(Case(length=length, smoke=length in spec.smoke_lengths, **with_causal))
        for length in spec.backward_lengths:
            smoke = length == min(spec.backward_lengths) and not causal
            cases.append(Case(length=length, **dict(with_causal, backward=True), smoke=smoke))
        cases.append(Case(length=spec.sweep_length, **dict(with_causal, dtype=torch.bfloat16)))
        for m in spec.ms:
            cases.append(Case(length=spec.sweep_length, contenders=FAVOR_CONTENDERS, **dict(with_causal, m=m)))
        for d in spec.ds:
            cases.append(Case(length=spec.sweep_length, **dict(with_causal, d=d)))
    return cases


def grid(device: torch.device) -> list[Case]:
    """The cases for ``device``: lengths 256…8192 on CPU, 1024…65536 on CUDA."""
    return _cases(_CUDA if device.type == "cuda" else _CPU)
