"""False-alarm accounting: each statistical test declares its α; the run's budget is their sum.

A test marked ``@pytest.mark.false_alarm(α)`` may fail by bad luck with probability at most α
over all its Hypothesis examples and checks (Bonferroni, MATH 28): every check runs at
``per_check(α, checks)`` = α / (examples × checks). The default profile's budget is
``RUN_BUDGET``; ``properties/meta/test_budget.py`` holds the suite to it.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = [
    "MAX_ROWS",
    "POWER_BETA",
    "RUN_BUDGET",
    "TARGET_RELATIVE_BIAS",
    "TARGET_VARIANCE_ERROR",
    "TEST_ALPHA",
    "per_check",
    "statistical_examples",
]

RUN_BUDGET = 1e-6
"""At most one false alarm in a million runs of the default profile on a correct implementation."""

TEST_ALPHA = 2.5e-8
"""The α of one statistical test: RUN_BUDGET shared over at most 40 statistical tests."""

POWER_BETA = 1e-3
"""Miss probability at which power is stated: a defect of the stated size is caught w.p. ≥ 0.999."""

TARGET_RELATIVE_BIAS = 0.02
"""The smallest relative kernel bias the default profile must detect (with probability 1 − β)."""

TARGET_VARIANCE_ERROR = 0.25
"""The smallest relative error of a variance that a variance test sized by the power computation
must detect with probability 1 − β (a shared χ norm per block changes the ORF variance by more)."""

MAX_ROWS = 400_000
"""The most projection rows one statistical check draws (memory and time of one example: 400 000
rows × d ≤ 64 float64 is 200 MB at most). Where the power computation asks for more, the check runs
with MAX_ROWS and its message states the bias it can detect."""


def statistical_examples() -> int:
    """Hypothesis examples for a statistical test: an eighth of the profile's max_examples (≥ 3),
    since each example draws thousands of replicates."""
    return max(3, settings.default.max_examples // 8)


def per_check(alpha: float, checks: int = 1) -> float:
    """α of one check: the test's α split over its examples and checks (Bonferroni)."""
    return alpha / (statistical_examples() * checks)
