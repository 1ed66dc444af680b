"""The suite's own proof of power: every mutant in the catalogue is rejected (issue 5).

Each mutant is run as a user would run it — ``pytest --favor-impl=properties.mutants.NAME`` —
on the property areas its catalogue entry names, in a subprocess, stopping at the first failure.
The test asserts that pytest failed, that the failure is a property violation in one of those
areas (not a crash of the suite), and that its headline says what was measured. The correct
implementation passing every area is the plain ``pytest`` run itself. Marked ``mutants``: run
with ``pytest -m mutants``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from properties.mutants import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def run_suite(impl: str, areas: tuple[str, ...], report: Path, *extra: str) -> tuple[int, dict]:
    """Run the property suite on ``areas`` against ``impl``; return (exit code, verdict JSON)."""
    files = [f"properties/test_{area}.py" for area in areas]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--favor-impl={impl}",
        f"--favor-report={report}",
        *extra,
        *files,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    verdict = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, verdict | {"stdout": proc.stdout[-3000:]}


@pytest.mark.mutants
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_mutant_is_killed(name, tmp_path):
    code, verdict = run_suite(f"properties.mutants.{name}", CATALOGUE[name], tmp_path / "verdict.json", "-x")
    assert code == 1, f"mutant {name}: pytest exited {code}, expected 1 (a failed property)\n{verdict['stdout']}"
    failures = [f for area in verdict["areas"].values() for f in area["failures"]]
    assert failures, f"mutant {name}: no failure recorded in the verdict\n{verdict['stdout']}"
    headline = failures[0]["headline"]
    assert "PropertyViolation" in headline or "assert" in headline.lower(), (
        f"mutant {name} was not killed by a property but by {headline!r}"
    )
