"""One untimed call under observation: its peak memory and the aten ops it ran.

Peak memory. CUDA: ``torch.cuda.max_memory_allocated`` after a reset, minus what was allocated
before the call (the inputs), i.e. the bytes the call itself needed at its high-water mark.
CPU: torch has no allocator statistics there, ``tracemalloc`` does not see torch's allocator and
``ru_maxrss`` is a process-wide high-water mark that later, smaller cases never move. So a
:class:`TorchDispatchMode` counts the bytes of every tensor storage an op creates, until that
storage is freed (a ``weakref.finalize`` on it), and keeps the maximum of the live sum: the same
quantity as on CUDA, except scratch space inside one kernel, which the dispatcher does not see.
Outputs that alias an input of their op (views, in-place results) are not new memory.

SDPA backend: ``scaled_dot_product_attention`` is composite; the dispatcher sees the kernel it
chose (``aten._scaled_dot_product_flash_attention_for_cpu``, ``…_efficient_attention``, …), or only
matmuls and a softmax when it fell back to the math path.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["Observation", "observe", "sdpa_backend"]

_SDPA_PREFIX = "aten._scaled_dot_product_"


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks the bytes of storages created under the mode that are still alive, and their peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.ops: list[str] = []
        self._tracked: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._tracked.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.ops.append(str(func))
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in inputs or key in self._tracked:
                continue
            self._tracked.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, key, nbytes)
        return out


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
    mode = _LiveTensorBytes()
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
