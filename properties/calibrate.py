"""How often does a *correct* implementation fail? Two measurements.

    python -m favor_suite.calibrate [--seeds 1000] [--alpha 0.01] [--favor-impl MODULE[:OBJECT]] [-k EXPR]
    python -m favor_suite.calibrate --thorough-seeds 20 [--workers auto]

``--seeds N`` runs every statistical test of the suite (every case marked ``false_alarm``), in
this process, on N fresh Hypothesis seeds, one example each — its own draws of d, m, s, inputs and
projections — at a nominal per-example false-alarm probability ``--alpha`` large enough for
rejections to be seen, and prints per test the rejection rate with its exact (Clopper-Pearson) 99%
interval: a calibrated test has its rate at or below α. Every seed rejected at ``--alpha`` is rerun
at the suite's own α — exactly the one a ``pytest`` run uses (the favor-default profile is
loaded and the α printed) — which counts the false alarms at the budget the gate runs with.

``--thorough-seeds N`` runs the whole gate N times under the favor-thorough profile with fresh
random seeds (``pytest --pyargs favor_suite --hypothesis-profile favor-thorough
--hypothesis-seed=S``) and prints, per test, how many runs failed: the check that no correct
implementation is called wrong anywhere Hypothesis reaches.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol
from scipy import stats


def _rejected(item: pytest.Item, seed: int) -> bool:
    """Run one example of ``item`` with Hypothesis seed ``seed``; True if it failed."""
    from hypothesis import Phase, settings

    test = item.obj
    test._hypothesis_internal_use_seed = seed
    # Parametrized cases share one function: wrap its own settings, never the previous wrapper (the
    # chain grew by one per run until Hypothesis hit RecursionError, counted as rejections).
    base = _BASE_SETTINGS.setdefault(test, test._hypothesis_internal_use_settings)
    test._hypothesis_internal_use_settings = settings(base, max_examples=1, derandomize=False, phases=[Phase.generate])
    reports = runtestprotocol(item, nextitem=None, log=False)
    failed = [report for report in reports if report.failed]
    if failed and _SHOW_AT_SUITE_ALPHA[0]:
        lines = [line for line in str(failed[0].longrepr).splitlines() if line.startswith("E ")]
        print(f"    seed {seed}: " + " | ".join(line[1:].strip() for line in lines[:2])[:400], flush=True)
    return bool(failed)


_BASE_SETTINGS: dict = {}
"""Each test function's own Hypothesis settings, before the first run here."""

_SHOW_AT_SUITE_ALPHA = [False]
"""Set while rejections are rerun at the suite's α: their messages are printed."""


def _interval(k: int, n: int) -> tuple[float, float]:
    low = stats.beta.ppf(0.005, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(0.995, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


class _Calibration:
    """A pytest plugin that replaces the run loop: each statistical case, on fresh seeds."""

    def __init__(self, seeds: int, alpha: float) -> None:
        self.seeds, self.alpha = seeds, alpha

    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        from favor_suite import budget

        items = [item for item in session.items if item.get_closest_marker("false_alarm")]
        suite_alpha = budget.TEST_ALPHA
        print(
            f"\n{len(items)} statistical test cases; {self.seeds} fresh seeds each, one example per seed; "
            f"nominal α per example = {self.alpha}; the suite's α per test = {suite_alpha:.2e}, per example "
            f"{suite_alpha / budget.statistical_examples():.2e} (profile favor-default, examples = "
            f"{budget.statistical_examples()}; a test with c checks runs each at its share)",
            flush=True,
        )
        print(f"{'test case':<78}{'rejected':>9}{'rate':>8}{'99% interval':>19}{'at suite α':>11}{'time':>7}")
        rng = random.Random(0)
        for item in items:
            start = time.perf_counter()
            draws = [rng.getrandbits(62) for _ in range(self.seeds)]
            # One example at α: a test's α is budget.TEST_ALPHA split over its examples (per_check).
            budget.TEST_ALPHA = self.alpha * budget.statistical_examples()
            try:
                rejected = [s for s in draws if _rejected(item, s)]
            finally:
                budget.TEST_ALPHA = suite_alpha
            _SHOW_AT_SUITE_ALPHA[0] = True
            try:
                at_suite = sum(_rejected(item, s) for s in rejected)
            finally:
                _SHOW_AT_SUITE_ALPHA[0] = False
            low, high = _interval(len(rejected), self.seeds)
            name = item.nodeid.split("::", 1)[-1]
            print(
                f"{name:<78}{len(rejected):>9}{len(rejected) / self.seeds:>8.4f}{f'[{low:.4f}, {high:.4f}]':>19}"
                f"{at_suite:>11}{time.perf_counter() - start:>6.0f}s",
                flush=True,
            )
        return True


def calibrate(seeds: int, alpha: float, impl: str | None, keyword: str | None) -> int:
    args = ["-q", "-p", "no:cacheprovider", "--pyargs", "favor_suite", "-p", "no:xdist"]
    if impl:
        args.append(f"--favor-impl={impl}")
    if keyword:
        args += ["-k", keyword]
    return int(pytest.main(args, plugins=[_Calibration(seeds, alpha)]))


def thorough_sweep(runs: int, workers: str, impl: str | None) -> int:
    """The gate under favor-thorough with ``runs`` fresh seeds; failures per test."""
    failures: Counter[str] = Counter()
    failed_runs = 0
    rng = random.Random()
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            seed = rng.getrandbits(32)
            report = Path(tmp) / f"{seed}.json"
            cmd = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "favor_suite",
                "--hypothesis-profile=favor-thorough", f"--hypothesis-seed={seed}", f"--favor-report={report}",
                "-n", workers,
            ]  # fmt: skip
            if impl:
                cmd.append(f"--favor-impl={impl}")
            start = time.perf_counter()
            code = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True).returncode
            verdict = json.loads(report.read_text()) if report.exists() else {"areas": {}}
            rows = verdict["areas"].items()
            found = [(f"{a}::{f['test']}", f["headline"]) for a, row in rows for f in row["failures"]]
            failures.update(name for name, _ in found)
            failed_runs += bool(found) or code != 0
            print(
                f"run {run + 1}/{runs} seed {seed}: exit {code}, {len(found)} failures, "
                f"{time.perf_counter() - start:.0f} s" + "".join(f"\n    {n}\n        {h}" for n, h in found),
                flush=True,
            )
    print(f"{failed_runs} of {runs} thorough runs failed")
    for name, count in failures.most_common():
        print(f"  {count:>3}  {name}")
    return 1 if failed_runs else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m favor_suite.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=0, help="fresh seeds per statistical test (in-process)")
    parser.add_argument("--alpha", type=float, default=0.01, help="nominal per-example α for --seeds")
    parser.add_argument("--thorough-seeds", type=int, default=0, help="whole-suite thorough runs with fresh seeds")
    parser.add_argument("--workers", default="auto", help="pytest-xdist workers for --thorough-seeds")
    parser.add_argument("--favor-impl", default=None)
    parser.add_argument("-k", dest="keyword", default=None, help="only statistical tests matching this -k expression")
    args = parser.parse_args()
    if not (args.seeds or args.thorough_seeds):
        parser.error("give --seeds N or --thorough-seeds N")
    if args.seeds:
        code = calibrate(args.seeds, args.alpha, args.favor_impl, args.keyword)
        if code not in (0, 5):
            return code
    return thorough_sweep(args.thorough_seeds, args.workers, args.favor_impl) if args.thorough_seeds else 0


if __name__ == "__main__":
    sys.exit(main())
