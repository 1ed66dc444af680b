"""The default profile's false-alarm budget: Σ α over every collected statistical test case is at
most ``budget.RUN_BUDGET``, as the gate itself counts it (the line it prints after collection), and
the power target holds by construction of the replicate counts."""

from __future__ import annotations

import re
import subprocess
import sys

from favor_suite import budget
from favor_suite.reference import kernel_moments as km
from favor_suite.reference import statistics as rs


def test_run_budget_is_respected(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--pyargs", "favor_suite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    found = re.search(r"false-alarm budget ([0-9.e+-]+) over (\d+) statistical test cases", out)
    assert found, f"the gate printed no false-alarm budget after collection:\n{out[-2000:]}"
    total, cases = float(found.group(1)), int(found.group(2))
    assert cases > 0, "no statistical test case was collected"
    assert total <= budget.RUN_BUDGET, f"false-alarm budget {total:.2e} over {cases} cases > {budget.RUN_BUDGET:.0e}"


def test_kernel_mean_tests_reach_the_power_target():
    """At the worst case the unbiasedness test allows (s = 0.5, iid positive, one row's relative
    variance e^s − 1), the rows it draws detect a 2% relative bias with probability ≥ 1 − β."""
    alpha = budget.per_check(budget.TEST_ALPHA)
    x, y = [0.5**0.5 / 2, 0.0], [0.5**0.5 / 2, 0.0]  # s = ‖x + y‖² = 0.5
    rel_var = float(km.mse_positive_iid(x, y, 1) / km.softmax_kernel(x, y) ** 2)
    rows = rs.samples_for_relative_bias(rel_var, budget.TARGET_RELATIVE_BIAS, alpha, budget.POWER_BETA)
    assert rows <= budget.MAX_ROWS, f"the power target needs {rows} rows, above the test's cap"
    assert rs.detectable_relative_bias(rel_var, rows, alpha, budget.POWER_BETA) <= budget.TARGET_RELATIVE_BIAS
