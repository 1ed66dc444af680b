"""Shared checks of the reference self-tests (``test_reference_*.py``).

Every statistical check reads: Monte-Carlo estimate ± z·se against the closed form, where se is the
standard error *computed from the samples* (a binomial law for counts) and z is
``normal_critical(ALPHA)`` with ALPHA = 1e-9 per check. Means of log-normal-tailed quantities use
``z_test_critical(ALPHA)`` instead, i.e. the MATH 25 heavy-tail factor; counts use the exact
binomial quantiles at ALPHA. Seeds are fixed, so the verdict is deterministic; ALPHA says how
unlikely a false alarm would be under a fresh seed. Projections come from
:mod:`favor_suite.reference.projections`, never from ``favor``. Exact (non-random) comparisons use
float64 rounding bounds from :mod:`favor_suite.reference.rounding`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from favor_suite.assertions import PropertyViolation, fmt_context
from favor_suite.reference import rounding
from favor_suite.reference import statistics as st

ALPHA = 1e-9
"""False-alarm probability of one statistical check."""
Z = st.normal_critical(ALPHA)
Z_HEAVY = st.z_test_critical(ALPHA)
F64 = torch.float64
U64 = rounding.unit_roundoff(F64)


def fail(headline: str, **context: object) -> None:
    raise PropertyViolation(headline + ("\n" + fmt_context(**context) if context else ""))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pair(d: int, s: float, delta2: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y ∈ ℝ^d with ‖x + y‖² = s and ‖x − y‖² = delta2, random directions."""
    z, delta = np.random.default_rng(seed).standard_normal((2, d))
    z *= math.sqrt(s) / np.linalg.norm(z)
    delta *= math.sqrt(delta2) / np.linalg.norm(delta)
    return (z + delta) / 2, (z - delta) / 2


def assert_band(
    what: str, estimate: float, se: float, low: float, high: float, *, z: float = Z, **context: object
) -> None:
    """low − z·se ≤ estimate ≤ high + z·se ([low, high] is a stated model band, or one point)."""
    if not low - z * se <= estimate <= high + z * se:
        target = f"{low:.6g}" if low == high else f"[{low:.6g}, {high:.6g}]"
        outside = (estimate - (low if estimate < low else high)) / se
        fail(
            f"{what}: Monte Carlo {estimate:.6g} ± {se:.3g} (se) vs closed form {target}, "
            f"z = {outside:.2f}, |z| ≤ {z:.2f} required at α = {ALPHA:.0e}",
            **context,
        )


def assert_mc(what: str, samples: object, expected: float, *, heavy_tailed: bool = False, **context: object) -> None:
    """|mean(samples) − expected| ≤ z·se, se = sample sd/√n, z at ALPHA (heavy tails: ALPHA/10)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    mean, se = float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)
    assert_band(what, mean, se, expected, expected, z=Z_HEAVY if heavy_tailed else Z, n=x.size, **context)


def assert_count(what: str, hits: int, trials: int, p: float, *, at_most: bool = False, **context: object) -> None:
    """hits ~ Binomial(trials, p) (≤ p if ``at_most``): exact binomial acceptance region at ALPHA."""
    law = stats.binom(trials, p)
    high = int(law.isf(ALPHA if at_most else ALPHA / 2))
    low = 0 if at_most else int(law.ppf(ALPHA / 2))
    if not low <= hits <= high:
        fail(
            f"{what}: {hits} of {trials} vs Binomial({trials}, {'≤ ' if at_most else ''}{p:.4g}), "
            f"acceptance [{low}, {high}] at α = {ALPHA:.0e}",
            **context,
        )


def assert_relative(what: str, got: float, exact: float, bound: float, **context: object) -> None:
    """|got − exact| ≤ bound·|exact| (a derived rounding bound, not a tuned tolerance)."""
    if not abs(got - exact) <= bound * abs(exact):
        error = abs(got - exact) / abs(exact) if exact else math.inf
        fail(f"{what}: {got!r} vs exact {exact!r}, relative error {error:.3g} > bound {bound:.3g}", **context)
