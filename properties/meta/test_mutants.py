"""The suite's own proof of power: every mutant in the catalogue is rejected.

Each mutant is run as a user would run it — ``pytest --pyargs favor_suite.test_<area>
--favor-impl=favor_suite.mutants.NAME`` — on the property areas its catalogue entry names, in a
subprocess from a temporary directory, stopping at the first failure. A kill is a
``PropertyViolation`` (a verdict of severity wrong, fragile or contract, not an error of the
suite or a crash of the mutant) in one of those areas. The correct implementation passing every
area is the plain ``pytest`` run itself. Marked ``mutants``: run with ``pytest -m mutants``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from favor_suite.mutants import CATALOGUE
from favor_suite.plugin import SEVERITIES

pytestmark = pytest.mark.mutants


def run_suite(impl: str, areas: tuple[str, ...], workdir: Path, *extra: str) -> tuple[int, dict]:
    """Run the gate on ``areas`` against ``impl`` from ``workdir``; return (exit code, verdict JSON)."""
    report = workdir / "verdict.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--pyargs",
        *(f"favor_suite.test_{area}" for area in areas),
        f"--favor-impl={impl}",
        f"--favor-report={report}",
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    verdict = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, verdict | {"stdout": proc.stdout[-3000:]}


def first_failure(verdict: dict) -> tuple[str, dict] | None:
    """(area, failure) of the first failure recorded, if any."""
    for area, row in verdict.get("areas", {}).items():
        for failure in row["failures"]:
            return area, failure
    return None


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_mutant_is_killed(name, tmp_path):
    areas = CATALOGUE[name]
    code, verdict = run_suite(f"favor_suite.mutants.{name}", areas, tmp_path, "-x", "--hypothesis-profile=favor-gate")
    assert code == 1, f"mutant {name}: pytest exited {code}, expected 1 (a failed property)\n{verdict['stdout']}"
    found = first_failure(verdict)
    assert found is not None, f"mutant {name}: no failure recorded in the verdict\n{verdict['stdout']}"
    area, failure = found
    assert area in areas, f"mutant {name} failed first in area {area!r}, not one meant to catch it: {failure}"
    assert failure["severity"] in SEVERITIES, (
        f"mutant {name} was not killed by a property violation but by {failure['headline']!r}"
    )
