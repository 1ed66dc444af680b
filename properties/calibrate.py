"""Calibration of the statistical core: how often does a *correct* implementation fail?

    python -m favor_suite.calibrate [--seeds 1000] [--alpha 0.01] [--favor-impl MODULE[:OBJECT]]

Runs each core check of ``favor_suite.checks`` on ``--seeds`` fresh seeds (each seed draws its own
d, m, inputs and projections) at a nominal false-alarm probability ``--alpha`` large enough for
rejections to be seen, and reports the observed rejection rate with its exact (Clopper-Pearson)
99% interval: a calibrated check has its rate at or below α. The seeds rejected at ``--alpha`` are
then rerun at the suite's own per-check α, which gives the observed false-alarm count at the
budget the default profile uses (a rejection at a smaller α is a rejection at the larger one).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats

from favor_suite import budget, checks
from favor_suite.assertions import PropertyViolation
from favor_suite.implementation import Implementation, load_implementation
from favor_suite.strategies import generator


def _pair(rng: np.random.Generator, d: int, s_max: float) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = rng.normal(size=(2, d))
    x, y = (v / np.linalg.norm(v) * rng.uniform(0, math.sqrt(s_max) / 2) for v in (x, y))
    return torch.from_numpy(x), torch.from_numpy(y)


def _cases(impl: Implementation) -> dict[str, Callable[[int, float], None]]:
    def projection(seed: int, alpha: float) -> None:
        rng = np.random.default_rng(seed)
        d = int(rng.integers(1, 65))
        m = int(rng.integers(1, 3 * d + 2))
        checks.projection_law(impl, m, d, orthogonal=True, norms="chi", gen=generator(seed), alpha=alpha)

    def log_features(seed: int, alpha: float) -> None:
        rng = np.random.default_rng(seed)
        x, y = _pair(rng, int(rng.integers(1, 129)), 1.0)
        checks.positive_log_feature_law(impl, x, y, generator(seed), alpha)

    def kernel_mean(seed: int, alpha: float) -> None:
        rng = np.random.default_rng(seed)
        x, y = _pair(rng, int(rng.integers(1, 65)), 0.5)
        checks.kernel_mean(impl, "positive", x, y, orthogonal=True, gen=generator(seed), alpha=alpha)

    def kernel_variance(seed: int, alpha: float) -> None:
        rng = np.random.default_rng(seed)
        d = int(rng.integers(1, 33))
        x, y = _pair(rng, d, 0.5)
        checks.kernel_variance(
            impl,
            "positive",
            x,
            y,
            int(rng.integers(16, 129)),
            orthogonal=bool(seed % 2),
            gen=generator(seed),
            alpha=alpha,
        )

    return {
        "projection law (ORF, χ norms)": projection,
        "positive log-feature law": log_features,
        "kernel mean (positive ORF)": kernel_mean,
        "kernel variance (positive, iid/ORF)": kernel_variance,
    }


def _rejected(check: Callable[[int, float], None], seed: int, alpha: float) -> bool:
    try:
        check(seed, alpha)
    except PropertyViolation:
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip())
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--favor-impl", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    impl = load_implementation(args.favor_impl)
    suite_alpha = budget.per_check(budget.TEST_ALPHA)
    print(
        f"implementation {impl.name!r}; {args.seeds} fresh seeds per check; nominal α = {args.alpha}; "
        f"suite per-check α = {suite_alpha:.1e}"
    )
    print(f"{'check':<38}{'rejected':>9}{'rate':>9}{'99% interval':>20}{'at suite α':>12}{'time':>8}")
    for name, check in _cases(impl).items():
        start = time.perf_counter()
        rejected = [seed for seed in range(args.seeds) if _rejected(check, seed, args.alpha)]
        at_suite = sum(_rejected(check, seed, suite_alpha) for seed in rejected)
        k, n = len(rejected), args.seeds
        low = stats.beta.ppf(0.005, k, n - k + 1) if k else 0.0
        high = stats.beta.ppf(0.995, k + 1, n - k)
        print(
            f"{name:<38}{k:>9}{k / n:>9.4f}{f'[{low:.4f}, {high:.4f}]':>20}{at_suite:>12}"
            f"{time.perf_counter() - start:>7.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
