"""One untimed call under observation: its peak memory and the aten ops it ran.

Peak memory. CUDA: ``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated
before the call (the inputs), i.e. the bytes the call itself needed at its high-water mark.
CPU: torch has no allocator statistics there, ``tracemalloc`` does not see torch's allocator and
``ru_maxrss`` is a process-wide high-water mark that later, smaller cases never move. So
:class:`favor_suite.audit.LiveTensorBytes` keeps the peak of the bytes held by live tensor
storages: the same quantity as on CUDA, except scratch space inside one kernel.

SDPA backend: ``scaled_dot_product_attention`` is composite; the dispatcher sees the kernel it
chose (``aten._scaled_dot_product_flash_attention_for_cpu``, ``…_efficient_attention``, …), or only
matmuls and a softmax when it fell back to the math path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from favor_suite.audit import LiveTensorBytes

__all__ = ["Observation", "observe", "sdpa_backend"]

_SDPA_PREFIX = "aten._scaled_dot_product_"


@dataclass(frozen=True)
class Observation:
    """What one call did: peak extra bytes, how they were measured, the aten ops in call order."""

    peak_bytes: int
    memory_method: str
    ops: tuple[str, ...]


def observe(fn: Callable[[], object], device: torch.device) -> Observation:
    """Run ``fn()`` once (synchronised) and report its peak memory above the inputs and its ops."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    mode = LiveTensorBytes()
    with mode:
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        return Observation(peak, "torch.cuda.max_memory_allocated", tuple(mode.ops))
    return Observation(mode.peak, "live tensor storages (TorchDispatchMode)", tuple(mode.ops))


def sdpa_backend(ops: tuple[str, ...]) -> str:
    """The SDPA kernel among ``ops`` (``flash_attention_for_cpu``, ``efficient_attention`` …) or
    ``math`` when none ran (the decomposed fallback)."""
    for op in ops:
        if op.startswith(_SDPA_PREFIX) and "backward" not in op:
            return op.removeprefix(_SDPA_PREFIX).split(".")[0]
    return "math"
