"""The verdict of a gate run: its state, the table per area and severity, and the JSON.

Severities: **wrong** — a law of the mathematics violated beyond its statistical or rounding
allowance; **fragile** — exact in exact arithmetic, numerically weaker than the contract the suite
states; **contract** — an API promise broken (dtype returned, generator use, validation, cost);
**error** — an exception that is not a property violation.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from favor_suite.deviations import Deviation

__all__ = ["COLUMNS", "SEVERITIES", "Gate", "budget_line", "verdict", "write"]

SEVERITIES = ("wrong", "fragile", "contract")
COLUMNS = ("passed", *SEVERITIES, "error", "skipped", "xfailed", "xpassed")


@dataclass
class Gate:
    """What the plugin knows about a run that selected the gate."""

    impl: Any
    device: Any
    deviations: list[Deviation]
    started: float = field(default_factory=time.perf_counter)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)
    unmatched: list[str] = field(default_factory=list)
    budget: tuple[float, int] | None = None
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per area, what collection found: cases that apply to the implementation, and the skipped
    ones by missing capability (known before anything runs; ``--collect-only`` reports it too)."""

    def row(self, area: str) -> dict[str, Any]:
        if area not in self.rows:
            self.rows[area] = {
                **dict.fromkeys(COLUMNS, 0),
                "failures": [],
                "xpasses": [],
                "skipped_by_capability": Counter(),
            }
        return self.rows[area]


def budget_line(state: Gate) -> str:
    from favor_suite import budget

    total, tests = state.budget or (0.0, 0)
    return (
        f"favor: false-alarm budget {total:.2e} over {tests} statistical test cases "
        f"(each check at α/(examples × checks), examples = {budget.statistical_examples()})"
    )


def verdict(state: Gate, exitstatus: int) -> dict[str, Any]:
    """The run's verdict as a JSON-ready dict (the table, every failure, skips by capability)."""
    from hypothesis import settings

    from favor_suite.implementation import capabilities, describe_precision

    areas = {}
    for area in sorted(state.rows):
        row = state.rows[area]
        areas[area] = {**row, "skipped_by_capability": dict(row["skipped_by_capability"])}
    totals = {column: sum(r[column] for r in state.rows.values()) for column in COLUMNS}
    by_capability: Counter[str] = Counter()
    for row in state.rows.values():
        by_capability.update(row["skipped_by_capability"])
    total, tests = state.budget or (0.0, 0)
    return {
        "implementation": state.impl.name,
        "capabilities": capabilities(state.impl),
        "compute_precision": describe_precision(state.impl),
        "profile": settings.get_current_profile_name(),
        "device": str(state.device),
        "false_alarm_budget": total,
        "statistical_test_cases": tests,
        "exitstatus": int(exitstatus),
        "duration_s": round(time.perf_counter() - state.started, 1),
        "totals": totals,
        "skipped_by_capability": dict(by_capability),
        "unmatched_deviations": state.unmatched,
        "cases": state.cases,
        "areas": areas,
    }


def write(tr: Any, state: Gate, result: dict[str, Any]) -> None:
    """The verdict on the terminal: the table, the budget, skips by capability, every failure by
    severity with its headline, XPASSes and unmatched deviations."""
    impl_name = result["implementation"]
    tr.section(f"FAVOR verdict for {impl_name!r}")
    tr.write_line(f"{'area':<24}" + "".join(f"{c:>9}" for c in COLUMNS))
    for area, row in result["areas"].items():
        tr.write_line(f"{area:<24}" + "".join(f"{row[c]:>9}" for c in COLUMNS))
    tr.write_line(f"{'total':<24}" + "".join(f"{result['totals'][c]:>9}" for c in COLUMNS))
    tr.write_line(budget_line(state) + f"; profile {result['profile']!r}; {result['duration_s']:.0f} s")
    if result["skipped_by_capability"]:
        skipped = ", ".join(f"{cap}: {n}" for cap, n in sorted(result["skipped_by_capability"].items()))
        tr.write_line(f"skipped cases by missing capability (a case missing two counts twice): {skipped}")
    for severity in (*SEVERITIES, "error"):
        for area, row in result["areas"].items():
            for failure in row["failures"]:
                if failure["severity"] == severity:
                    tr.write_line(f"  {severity.upper():<8} {area}::{failure['test']}\n      {failure['headline']}")
    for area, row in result["areas"].items():
        for test in row["xpasses"]:
            tr.write_line(f"  XPASS    {area}::{test}: listed as a known deviation, now passes")
    for entry in result["unmatched_deviations"]:
        tr.write_line(f"  WARNING  known deviation {entry!r} matches no collected test", yellow=True)
