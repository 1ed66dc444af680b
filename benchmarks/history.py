"""Saved benchmark runs: where they live, how to read them back, and the I/O floor of a workload.

``pytest benchmarks --benchmark-autosave`` writes one JSON per run under
``.benchmarks/<device>/<platform>/NNNN_<commit>_<date>.json`` (see ``conftest.py``); this module
finds the newest run of a device and turns it into :class:`Timing` rows for the table
(``python -m benchmarks.report``) and the GPU figure (``python -m benchmarks.plots``).

I/O floor: no attention can beat reading its inputs and writing its output once. Forward moves
q, k, v and out (4 tensors of ``B·H·L·d`` elements); forward + backward also reads the output
gradient and writes dq, dk, dv (8 in all). At the copy bandwidth the run recorded with every case
(``extra_info["copy_bytes_per_s"]``, one large device-to-device copy), that is the floor in seconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["STORAGE", "Timing", "device_slug", "io_floor_seconds", "latest_run", "load"]

STORAGE = Path(".benchmarks")
_TENSORS_MOVED = {"forward": 4, "forward+backward": 8}
_ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2}


def device_slug(device: torch.device) -> str:
    """``cpu``, or the GPU's name with every run of non-alphanumerics made one ``-``."""
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name(device)).strip("-")


@dataclass(frozen=True)
class Timing:
    """One timed case of a saved run (seconds per call; peak bytes above the inputs)."""

    contender: str
    length: int
    m: int
    d: int
    batch: int
    heads: int
    causal: bool
    dtype: str
    passes: str
    median: float
    minimum: float
    peak_bytes: int
    copy_bytes_per_s: float

    @property
    def series(self) -> tuple[str, str, str]:
        """(mode, dtype, passes): one curve of time against L per contender."""
        return ("causal" if self.causal else "bidirectional", self.dtype, self.passes)


def latest_run(slug: str, storage: Path = STORAGE) -> Path | None:
    """The newest autosaved run of device ``slug`` (by its counter ``NNNN_``), or None."""
    runs = sorted((storage / slug).glob("*/[0-9][0-9][0-9][0-9]_*.json"), key=lambda p: p.name)
    return runs[-1] if runs else None


def load(path: Path) -> tuple[list[Timing], dict]:
    """The rows of one saved run and its ``machine_info``."""
    data = json.loads(path.read_text())
    rows = []
    for bench in data["benchmarks"]:
        info, stats = bench["extra_info"], bench["stats"]
        rows.append(Timing(
            contender=info["contender"], length=info["length"], m=info["m"], d=info["d"], batch=info["batch"],
            heads=info["heads"], causal=info["causal"], dtype=info["dtype"], passes=info["passes"],
            median=stats["median"], minimum=stats["min"], peak_bytes=info.get("peak_memory_bytes", 0),
            copy_bytes_per_s=info.get("copy_bytes_per_s", 0.0),
        ))
    return rows, data["machine_info"]


def io_floor_seconds(t: Timing) -> float:
    """Seconds to move the workload's inputs and outputs once at the recorded copy bandwidth
    (dv = d); NaN when the run recorded none."""
    if t.copy_bytes_per_s <= 0:
        return float("nan")
    elements = t.batch * t.heads * t.length * t.d
    return _TENSORS_MOVED[t.passes] * elements * _ITEMSIZE[t.dtype] / t.copy_bytes_per_s
