"""The benchmark grid: which workloads are timed on which device, by whom, and which are smoke.

A :class:`Case` is one workload ``q, k, v: [batch, heads, length, d]`` (dv = d) with a projection
``[m, d]``; each case is timed for every contender that it lists. The grid is not a full cartesian
product: L sweeps per (dtype, passes) series, then an m sweep (FAVOR only: nothing else depends on
m) and a d sweep at one length, forward fp32. Forward-only contenders (``fla`` on precomputed
features, ``favor-compiled``) are listed only in forward cases, ``favor-compiled`` only at the
longest length (it compiles once per shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ALL_CONTENDERS", "FAVOR_CONTENDERS", "Case", "grid"]

ALL_CONTENDERS: tuple[str, ...] = ("favor-torch", "favor-triton", "favor-compiled", "exact", "sdpa", "fla", "impl")
FAVOR_CONTENDERS: tuple[str, ...] = ("favor-torch", "favor-triton", "impl")
_FORWARD_ONLY = ("favor-compiled", "fla")
_LONGEST_ONLY = ("favor-compiled",)

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
class _Series:
    """An L sweep of one dtype and one pass: forward, or forward + backward."""

    dtype: torch.dtype
    backward: bool
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class _GridSpec:
    series: tuple[_Series, ...]
    sweep_length: int
    m: int
    d: int
    ms: tuple[int, ...]
    ds: tuple[int, ...]
    batch: int
    heads: int
    smoke_lengths: tuple[int, ...]


# CPU: small enough that the whole grid runs in a few minutes on 2 cores (exact attention at
# L = 8192 is ~1 s a call there). CUDA: the shapes of issue 11 (B = 2, H = 16, d = 64, m = 256),
# forward and forward + backward, bf16 and fp32, L = 1024 … 65536.
_CUDA_LENGTHS = (1024, 4096, 16384, 65536)
_CPU = _GridSpec(
    series=(
        _Series(torch.float32, False, (256, 1024, 4096, 8192)),
        _Series(torch.float32, True, (1024, 4096)),
        _Series(torch.bfloat16, False, (4096,)),
    ),
    sweep_length=4096, m=128, d=64, ms=(64, 256), ds=(32, 128), batch=1, heads=2, smoke_lengths=(256, 1024),
)
_CUDA = _GridSpec(
    series=tuple(_Series(t, b, _CUDA_LENGTHS) for t in (torch.bfloat16, torch.float32) for b in (False, True)),
    sweep_length=16384, m=256, d=64, ms=(128, 512), ds=(32, 128), batch=2, heads=16, smoke_lengths=(1024,),
)


def _contenders(base: tuple[str, ...], *, backward: bool, longest: bool) -> tuple[str, ...]:
    return tuple(
        c for c in base if not (backward and c in _FORWARD_ONLY) and (longest or c not in _LONGEST_ONLY)
    )


def _cases(spec: _GridSpec) -> list[Case]:
    cases = []
    fp32_forward = dict(m=spec.m, d=spec.d, dtype=torch.float32, backward=False, batch=spec.batch, heads=spec.heads)
    for causal in (False, True):
        for series in spec.series:
            smallest, longest = min(series.lengths), max(series.lengths)
            for length in series.lengths:
                forward_smoke = not series.backward and length in spec.smoke_lengths
                backward_smoke = series.backward and length == smallest and not causal
                cases.append(Case(
                    length=length, m=spec.m, d=spec.d, causal=causal, dtype=series.dtype, backward=series.backward,
                    batch=spec.batch, heads=spec.heads,
                    contenders=_contenders(ALL_CONTENDERS, backward=series.backward, longest=length == longest),
                    smoke=series.dtype == torch.float32 and (forward_smoke or backward_smoke),
                ))
        for m in spec.ms:
            cases.append(Case(length=spec.sweep_length, causal=causal, contenders=FAVOR_CONTENDERS,
                              **dict(fp32_forward, m=m)))
        for d in spec.ds:
            cases.append(Case(length=spec.sweep_length, causal=causal,
                              contenders=_contenders(ALL_CONTENDERS, backward=False, longest=False),
                              **dict(fp32_forward, d=d)))
    return cases


def grid(device: torch.device) -> list[Case]:
    """The cases for ``device``: lengths 256…8192 on CPU, 1024…65536 on CUDA."""
    return _cases(_CUDA if device.type == "cuda" else _CPU)
