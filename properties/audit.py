"""Dispatch-level audits of what a call allocates: every intermediate's shape, and the peak of
the bytes held by live tensor storages (the CPU stand-in for ``torch.cuda.max_memory_allocated``;
used by the cost properties and by ``benchmarks/probe.py``)."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["LiveTensorBytes", "ShapeAudit"]


class ShapeAudit(TorchDispatchMode):
    """Records (op, output shape) for every op dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.records.append((str(func), tuple(t.shape)))
        return out


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of the storages created under the mode that are still alive, and their peak.

    Each new storage is counted until it is freed (a ``weakref.finalize`` on it). Outputs that
    alias an input of their op (views, in-place results) are not new memory; scratch space inside
    one kernel is invisible to the dispatcher. ``ops`` lists the aten ops in call order."""

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
