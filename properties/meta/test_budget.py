"""The false-alarm budget of this run: Σ α over every collected statistical test case is at most
``budget.RUN_BUDGET``, as the gate itself counted it at collection (the line it prints), and the
power claims hold — checked against simulation, not against their own algebra."""

from __future__ import annotations

import math

import numpy as np
import pytest

from favor_suite import budget, plugin
from favor_suite.reference import statistics as rs


def test_run_budget_is_respected(request):
    state = plugin.gate(request.config)
    if state is None or state.budget is None or state.budget[1] == 0:
        pytest.skip("no statistical test case is collected in this run")
    total, cases = state.budget
    assert total <= budget.RUN_BUDGET, f"false-alarm budget {total:.2e} over {cases} cases > {budget.RUN_BUDGET:.0e}"


def _positive_estimates(rng, trials: int, rows: int, s: float, bias: float) -> np.ndarray:
    """Relative kernel estimates (Â/SM) of ``trials`` independent draws of ``rows`` iid positive
    features, with a relative ``bias``: each row's product/SM is exactly exp(N(−s/2, s)) (MATH 6)."""
    samples = np.exp(rng.normal(-s / 2, math.sqrt(s), size=(trials, rows)))
    return samples.mean(axis=1) * (1 + bias)


@pytest.mark.parametrize("test", ["z-test", "median of means"])
def test_power_and_false_alarm_claims_hold_in_simulation(test):
    """At a level where simulation can see the rates (α = 1e-2, β = 5e-2, relative bias 10%,
    s = 0.5: one positive row's relative variance e^s − 1), the sample counts the suite computes
    (``samples_for_relative_bias`` for the z-test, ``samples_for_mom`` for the median of means)
    reject a biased estimator with probability ≥ 1 − β and a correct one with probability ≤ α:
    both counts over 2000 simulated runs of the very test are within the Binomial(2000, rate)
    acceptance region at 1e-9."""
    alpha, beta, bias, s, trials = 1e-2, 5e-2, 0.10, 0.5, 2000
    relative_variance = math.expm1(s)
    rng = np.random.default_rng(7)
    if test == "z-test":
        rows = rs.samples_for_relative_bias(relative_variance, bias, alpha, beta)

        def rejects(estimates: np.ndarray) -> np.ndarray:
            z = (estimates - 1) / math.sqrt(relative_variance / rows)
            return np.abs(z) > rs.z_test_critical(alpha)

        correct, biased = (rejects(_positive_estimates(rng, trials, rows, s, b)) for b in (0.0, bias))
    else:
        rows = rs.samples_for_mom(relative_variance, bias, alpha, beta)
        groups = rs.mom_groups(alpha)
        threshold = rs.mom_threshold(math.sqrt(relative_variance), rows, alpha)

        def rejects(b: float) -> np.ndarray:
            size = rows // groups
            means = np.stack([_positive_estimates(rng, trials, size, s, b) for _ in range(groups)])
            return np.abs(np.median(means, axis=0) - 1) > threshold

        correct, biased = rejects(0.0), rejects(bias)
    too_many_false_alarms = rs.binomial_upper(trials, alpha, 1e-9)
    too_many_misses = rs.binomial_upper(trials, beta, 1e-9)
    assert correct.sum() <= too_many_false_alarms, f"{test}: {correct.sum()} false alarms in {trials} at α = {alpha}"
    misses = int((~biased).sum())
    assert misses <= too_many_misses, (
        f"{test}: {misses} misses of a {bias:.0%} bias in {trials} (β = {beta}, {rows} rows)"
    )
