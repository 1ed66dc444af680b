"""The benchmark figures, one command: ``python -m benchmarks.plots`` (PNGs in benchmarks/figures/).

(a) ``time_vs_length.png``  forward time against L, log-log, FAVOR+ vs exact vs SDPA, fitted slopes;
(b) ``kernel_mse.png``      relative MSE of one kernel entry against m: Monte Carlo points and
                            closed forms, iid vs ORF, positive / trigonometric / hyperbolic and
                            FAVOR++ ([P] Fig. 3 and Lemma 2; [CRT]);
(c) ``output_error.png``    relative error of the attention output against m and against the input
                            scale, FAVOR+ vs FAVOR++ (bidirectional);
(d) ``history_<device>.png`` forward time against L per contender from the newest saved benchmark
                            run of ``--device`` (pytest-benchmark), with the I/O floor; drawn only
                            where such a run exists.
About 2-3 minutes on 2 CPU cores, most of it (a); ``--figures`` picks some.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot loads: no display needed
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

from benchmarks import history, kernel_mse, output_error, scaling

FIGURES = Path(__file__).parent / "figures"
KERNEL_MS = (16, 32, 64, 128, 256)
OUTPUT_MS = (16, 32, 64, 128, 256, 512)
OUTPUT_SCALES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
OUTPUT_SCALE, OUTPUT_M = 0.6, 256
FIGURES_ALL = ("scaling", "kernel_mse", "output_error", "history")


def plot_scaling(device: torch.device, path: Path) -> None:
    """(a) forward seconds against L for both attention modes, with the fitted log-log slopes."""
    lengths = scaling.lengths_for(device)
    min_length = lengths[len(lengths) // 2]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, causal in zip(axes, (False, True), strict=True):
        for curve in scaling.measure(device, lengths=lengths, causal=causal):
            slope = scaling.fit_slope(curve.lengths, curve.seconds, min_length=min_length)
            ms = [1e3 * t for t in curve.seconds]
            timings = ", ".join(f"{n}: {t:.3g}" for n, t in zip(curve.lengths, ms, strict=True))
            print(f"  {'causal' if causal else 'bidir'} {curve.contender} ms by L: {timings}; slope {slope:.2f}")
            ax.loglog(curve.lengths, ms, "o-", label=f"{curve.contender}  (slope {slope:.2f})")
            ax.annotate(f"{slope:.2f}", (curve.lengths[-1], ms[-1]), textcoords="offset points", xytext=(6, -3))
        ax.set_title(f"{'causal' if causal else 'bidirectional'}, forward fp32")
        ax.set_xlabel("sequence length L")
        _label_log_x(ax, lengths)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title=f"slope fitted on L ≥ {min_length}")
    axes[0].set_ylabel("time per call, fastest block (ms)")
    fig.suptitle(f"Attention time vs length on {device.type} (batch 1, 2 heads, d = 64, m = 128; "
                 f"torch {torch.__version__}, intra-op threads: {torch.get_num_threads()})")
    _save(fig, path)


def plot_kernel_mse(path: Path, *, replicates: int = 4000) -> None:
    """(b) MSE/SM² against m for every estimator of :data:`kernel_mse.ESTIMATORS`."""
    d = 16
    x, y = kernel_mse.pair(d, norm=1.2, angle_degrees=120)
    panels = {"positive": ["positive", "gerf"], "trigonometric": ["trigonometric"], "hyperbolic": ["hyperbolic"]}
    styles = {False: ("tab:blue", "o"), True: ("tab:orange", "s")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for ax, (title, kinds) in zip(axes, panels.items(), strict=True):
        for estimator in (e for e in kernel_mse.ESTIMATORS if e.kind in kinds):
            colour, marker = ("tab:green", "^") if estimator.optimal_gerf else styles[estimator.orthogonal]
            points = [kernel_mse.empirical_relative_mse(x, y, m, estimator, replicates=replicates, seed=m)
                      for m in KERNEL_MS]
            closed = [kernel_mse.closed_form_relative_mse(x, y, m, estimator) for m in KERNEL_MS]
            ax.errorbar(KERNEL_MS, [p for p, _ in points], yerr=[2 * e for _, e in points], fmt=marker,
                        color=colour, capsize=3, label=f"{estimator.label}: Monte Carlo ±2 s.e.")
            ax.loglog(KERNEL_MS, closed, "-", color=colour, alpha=0.7, label=f"{estimator.label}: closed form")
        ax.set_title(f"{title} features")
        ax.set_xlabel("m (random vectors)")
        _label_log_x(ax, KERNEL_MS)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("relative MSE  E[(estimate − SM)²] / SM²")
    s = float((x + y).square().sum())
    fig.suptitle(f"Kernel estimate SM(x, y) = exp(xᵀy), d = {d}, ‖x‖ = ‖y‖ = 1.2 at 120° (s = {s:.2f}, "
                 f"SM = {float(torch.exp(x @ y)):.3f}); {replicates} draws per point")
    _save(fig, path)


def plot_output_error(path: Path, *, draws: int = 24) -> None:
    """(c) relative output error against m (σ fixed), against σ (m fixed), and their ratio."""
    by_m = output_error.sweep(ms=OUTPUT_MS, scales=(OUTPUT_SCALE,), draws=draws)
    by_scale = output_error.sweep(ms=(OUTPUT_M,), scales=OUTPUT_SCALES, draws=draws)
    fig, (ax_m, ax_s, ax_r) = plt.subplots(1, 3, figsize=(15, 4.5))
    for method in output_error.METHODS:
        row_m = [p for p in by_m if p.method == method]
        row_s = [p for p in by_scale if p.method == method]
        ax_m.errorbar([p.m for p in row_m], [p.mean for p in row_m], yerr=[2 * p.stderr for p in row_m],
                      fmt="o-", capsize=3, label=method)
        ax_s.errorbar([p.scale for p in row_s], [p.mean for p in row_s], yerr=[2 * p.stderr for p in row_s],
                      fmt="o-", capsize=3, label=method)
    plus, plusplus = ([p.mean for p in by_scale if p.method == name] for name in output_error.METHODS)
    ax_r.plot(OUTPUT_SCALES, [b / a for a, b in zip(plus, plusplus, strict=True)], "o-", color="tab:green")
    ax_r.axhline(1.0, color="grey", lw=0.8)
    ax_r.text(0.02, 0.03, "as both errors approach 1 (the estimate no longer\nresembles Y) the ratio drifts back to 1",
              transform=ax_r.transAxes, fontsize=8, color="dimgrey")
    ax_m.set(xscale="log", yscale="log", xlabel="m (random vectors)", ylabel="‖Ŷ − Y‖_F / ‖Y‖_F",
             title=f"error vs m at σ = {OUTPUT_SCALE}")
    ax_s.set(yscale="log", xlabel="input scale σ (logit std σ²)", title=f"error vs scale at m = {OUTPUT_M}")
    ax_r.set(xlabel="input scale σ", ylabel="FAVOR++ error / FAVOR+ error", title="FAVOR++ advantage (< 1 better)")
    _label_log_x(ax_m, OUTPUT_MS)
    for ax in (ax_m, ax_s, ax_r):
        ax.grid(True, which="both", alpha=0.3)
    ax_m.legend()
    ax_s.legend()
    fig.suptitle(f"Bidirectional attention output vs float64 exact, L = 256, d = 16, ORF; mean of {draws} draws "
                 "(±2 s.e.)")
    _save(fig, path)


def plot_history(path: Path, rows: list[history.Timing], machine: dict) -> None:
    """(d) median forward time against L per contender, one panel per (mode, dtype), the I/O floor
    dashed; the L sweeps at the run's default (m, d) only."""
    forward = [t for t in rows if t.passes == "forward"]
    m, d = max({(t.m, t.d) for t in forward}, key=lambda md: sum((t.m, t.d) == md for t in forward))
    forward = [t for t in forward if (t.m, t.d) == (m, d)]
    dtypes = sorted({t.dtype for t in forward})
    fig, axes = plt.subplots(len(dtypes), 2, figsize=(11, 4.2 * len(dtypes)), squeeze=False, sharex=True)
    for row, dtype in zip(axes, dtypes, strict=True):
        for ax, causal in zip(row, (False, True), strict=True):
            panel = [t for t in forward if t.dtype == dtype and t.causal == causal]
            for name in sorted({t.contender for t in panel}):
                curve = sorted((t.length, t.median) for t in panel if t.contender == name)
                ax.loglog([n for n, _ in curve], [1e3 * s for _, s in curve], "o-", label=name)
            floor = sorted({(t.length, history.io_floor_seconds(t)) for t in panel})
            ax.loglog([n for n, _ in floor], [1e3 * s for _, s in floor], "k--", label="I/O floor (q, k, v, out once)")
            lengths = tuple(sorted({t.length for t in panel}))
            if lengths:
                _label_log_x(ax, lengths)
            ax.set(title=f"{'causal' if causal else 'bidirectional'}, forward {dtype}", xlabel="sequence length L")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        row[0].set_ylabel("median time per call (ms)")
    some = forward[0]
    fig.suptitle(f"{machine.get('gpu') or machine.get('device')}: B = {some.batch}, H = {some.heads}, d = {d}, "
                 f"m = {m}; torch {machine.get('torch')}, triton {machine.get('triton', '–')}")
    _save(fig, path)


def _label_log_x(ax: plt.Axes, values: tuple[int, ...]) -> None:
    """Label a log x-axis at exactly ``values``, in plain numbers, without minor labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plots", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for the timing figure (a); (b), (c) run on CPU")
    parser.add_argument("--out", type=Path, default=FIGURES, help="output folder (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=torch.get_num_threads(), metavar="N",
                        help="intra-op threads (default: torch's default, %(default)s here)")
    parser.add_argument("--figures", nargs="+", choices=FIGURES_ALL, default=list(FIGURES_ALL),
                        help="which figures to draw (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    slug = history.device_slug(device)
    run = history.latest_run(slug)
    figures = {
        "scaling": ("time_vs_length.png", lambda p: plot_scaling(device, p)),
        "kernel_mse": ("kernel_mse.png", plot_kernel_mse),
        "output_error": ("output_error.png", plot_output_error),
        "history": (f"history_{slug}.png", lambda p: plot_history(p, *history.load(run))),
    }
    for key in args.figures:
        name, draw = figures[key]
        if key == "history" and run is None:
            print(f"  {name}: skipped, no saved benchmark run under {history.STORAGE / slug}", flush=True)
            continue
        start = time.perf_counter()
        draw(args.out / name)
        print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
