"""The newest saved benchmark run as a markdown table: ``python -m benchmarks.report``.

One row per workload (L, mode, dtype, passes; the default m and d of the grid), one column per
contender: median ms per call / peak MiB above the inputs, and the I/O floor of the workload
(:func:`benchmarks.history.io_floor_seconds`). ``--favor-device cuda`` reads the current GPU's history;
``--run PATH`` a given JSON (e.g. one written with ``--benchmark-json``).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch

from benchmarks.cases import ALL_CONTENDERS
from benchmarks.history import STORAGE, Timing, device_slug, io_floor_seconds, latest_run, load

__all__ = ["table"]


def _cell(t: Timing) -> str:
    return f"{1e3 * t.median:.3g} / {t.peak_bytes / 2**20:.0f}"


def table(rows: list[Timing]) -> str:
    """Markdown: the L sweeps at the most common (m, d) of the run; sweeps of m and d are left out."""
    shapes = defaultdict(int)
    for t in rows:
        shapes[(t.m, t.d)] += 1
    m, d = max(shapes, key=shapes.get)
    cells: dict[tuple, dict[str, Timing]] = defaultdict(dict)
    for t in rows:
        if (t.m, t.d) == (m, d):
            cells[(*t.series, t.length)][t.contender] = t
    names = [c for c in ALL_CONTENDERS if any(c in by for by in cells.values())]
    names += sorted({c for by in cells.values() for c in by} - set(names))
    lines = [
        f"m = {m}, d = {d}; cells: median ms / peak MiB above the inputs; floor: I/O at the copy bandwidth",
        "",
        "| mode | dtype | passes | L | floor ms | " + " | ".join(names) + " |",
        "|---" * (5 + len(names)) + "|",
    ]
    for key in sorted(cells):
        by = cells[key]
        floor = io_floor_seconds(next(iter(by.values())))
        row = [*key, f"{1e3 * floor:.3g}", *(_cell(by[c]) if c in by else "–" for c in names)]
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--favor-device", default="cpu", help="device whose newest saved run to show (default: cpu)")
    parser.add_argument("--run", type=Path, default=None, help="a saved run's JSON instead of the newest one")
    parser.add_argument("--storage", type=Path, default=STORAGE, help="benchmark storage (default: %(default)s)")
    args = parser.parse_args(argv)
    path = args.run or latest_run(device_slug(torch.device(args.favor_device)), args.storage)
    if path is None:
        raise SystemExit(f"no saved benchmark run for {args.favor_device} under {args.storage}")
    rows, machine = load(path)
    print(f"{path} — {machine.get('gpu') or machine.get('cpu', {}).get('brand_raw', machine.get('device'))}, "
          f"torch {machine.get('torch')}, triton {machine.get('triton', '–')}")
    print(table(rows))


if __name__ == "__main__":
    main()
