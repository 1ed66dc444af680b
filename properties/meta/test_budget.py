"""The default profile's false-alarm budget: Σ α over every statistical test (and every
parametrization of it) is at most ``budget.RUN_BUDGET`` (issue 3), and the power target holds
by construction of the replicate counts."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

from properties import budget
from reference import kernel_moments as km
from reference import statistics as rs

PROPERTIES = Path(__file__).resolve().parents[1]


def _declared_alphas() -> dict[str, float]:
    alphas = {}
    for path in sorted(PROPERTIES.glob("test_*.py")):
        module = importlib.import_module(f"properties.{path.stem}")
        for name, fn in vars(module).items():
            marks = getattr(fn, "pytestmark", [])
            alpha = [m.args[0] for m in marks if m.name == "false_alarm"]
            if name.startswith("test_") and alpha:
                variants = math.prod(len(m.args[1]) for m in marks if m.name == "parametrize")
                alphas[f"{path.stem}::{name}"] = alpha[0] * variants
    return alphas


def test_run_budget_is_respected():
    alphas = _declared_alphas()
    total = sum(alphas.values())
    assert alphas, "no statistical test declares a false-alarm probability"
    assert total <= budget.RUN_BUDGET, f"false-alarm budget {total:.2e} > {budget.RUN_BUDGET:.0e}: {alphas}"


def test_kernel_mean_tests_reach_the_power_target():
    """At the worst case the unbiasedness test allows (s = 0.5, iid positive, one row's relative
    variance e^s − 1), the rows it draws detect a 2% relative bias with probability ≥ 1 − β."""
    alpha = budget.per_check(budget.TEST_ALPHA)
    x, y = [0.5**0.5 / 2, 0.0], [0.5**0.5 / 2, 0.0]  # s = ‖x + y‖² = 0.5
    rel_var = float(km.mse_positive_iid(x, y, 1) / km.softmax_kernel(x, y) ** 2)
    rows = rs.samples_for_relative_bias(rel_var, budget.TARGET_RELATIVE_BIAS, alpha, budget.POWER_BETA)
    assert rows <= 400_000, f"the power target needs {rows} rows, above the test's cap"
    assert rs.detectable_relative_bias(rel_var, rows, alpha, budget.POWER_BETA) <= budget.TARGET_RELATIVE_BIAS
