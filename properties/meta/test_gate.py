"""The gate as a product, run as a user runs it: ``pytest --pyargs favor_suite`` in a subprocess
from a directory outside the repository, against adapters written there.

* A minimal record (fp32 and fp64 only, bidirectional only, positive features only, no key mask,
  no sampler, no input validation) runs exactly the cases that apply to it: the counts per area
  below are what collection finds before anything is drawn, asserted exactly.
* Known deviations are scoped by case parameters, a deviation that now passes is reported as
  XPASS, and a pattern that matches nothing is reported.
* Installed, the plugin leaves other projects alone: their own ``--device`` option and their own
  ``properties`` package work, and nothing of the gate is printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

MINIMAL_ADAPTER = """
import torch

import favor
from favor_suite.implementation import Implementation


def attention(q, k, v, w, *, kind, causal, key_mask):
    return favor.favor_attention(q, k, v, w, kind=kind, causal=causal)


IMPLEMENTATION = Implementation(
    name="minimal",
    feature_map=favor.feature_map,
    attention=attention,
    feature_kinds=("positive",),
    orthogonal=False,
    fixed_norms=False,
    causal=False,
    key_mask=False,
    dtypes=(torch.float64, torch.float32),
    input_validation=False,
)
"""

MINIMAL_CASES = {
    "attention_identities": 6,
    "attention_statistics": 2,
    "bad_input": 0,
    "causality": 3,
    "cost": 3,
    "favorpp": 0,
    "features": 1,
    "kernel_estimator": 8,
    "numerics": 7,
    "projections": 0,
}
"""Cases that apply to the minimal record, per area. attention_identities: linear = quadratic,
permutation, convex hull, stabilization, batch slices, bit-identical repeats (positive,
bidirectional); attention_statistics: the exact law of N̂ and D̂ and the m = 8192 acceptance
(bidirectional); causality: NaN
in q, k, v (bidirectional); cost: FLOPs, shapes, live memory (bidirectional); features: the
positive law; kernel_estimator: unbiasedness and variance (iid and orthogonal, on the suite's
projections), ORF vs iid, 1/m (iid and orthogonal), one entry independent of the others;
numerics: finite range (fp64, fp32), fp32 vs fp64 at short and long L, gradcheck, gradients
against float64 (fp64, fp32). Nothing of projections (no
sampler), favorpp (no GERF) or bad_input (no validation)."""


def gate(workdir: Path, *args: str, timeout: int = 900) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m pytest --pyargs favor_suite ARGS`` in ``workdir``; (process, verdict JSON)."""
    report = workdir / "verdict.json"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--favor-report={report}", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    return proc, json.loads(report.read_text()) if report.exists() else {}


def test_a_minimal_record_runs_exactly_the_cases_that_apply(tmp_path):
    (tmp_path / "minimal_adapter.py").write_text(MINIMAL_ADAPTER)
    proc, verdict = gate(tmp_path, "--collect-only", "-q", "--pyargs", "favor_suite", "--favor-impl=minimal_adapter")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    applicable = {area: counts["applicable"] for area, counts in verdict["cases"].items()}
    assert applicable == MINIMAL_CASES
    skipped = {cap for counts in verdict["cases"].values() for cap in counts["skipped_by_capability"]}
    assert {"causal", "key_mask", "sample_projection", "gerf", "input_validation", "dtype:bfloat16"} <= skipped


DEVIATIONS = """
# a scoped deviation: only the positive-feature cases
test_future_tokens_do_not_change_past_outputs  kind=positive   # global key max, known
causality::test_masking_future_keys_does_not_change_past_outputs[hyperbolic]   # known too
test_padding_mask_equals_truncation  mode=bidirectional        # listed, but the mutant passes it
test_that_does_not_exist                                       # a typo
"""


def test_known_deviations_are_scoped_and_honest(tmp_path):
    (tmp_path / "deviations.txt").write_text(DEVIATIONS)
    proc, verdict = gate(
        tmp_path,
        "-q",
        "--pyargs",
        "favor_suite.test_causality",
        "--favor-impl=favor_suite.mutants.global_key_max_causal",
        "--favor-deviations=deviations.txt",
        "--hypothesis-profile=favor-gate",
        "-k",
        "future_tokens or masking_future or padding_mask",
    )
    row = verdict["areas"]["causality"]
    failed = {f["test"] for f in row["failures"]}
    assert not any("[positive-" in t for t in failed if t.startswith("test_future_tokens")), failed
    assert any(t.startswith("test_future_tokens_do_not_change_past_outputs[hyperbolic") for t in failed), failed
    assert "test_masking_future_keys_does_not_change_past_outputs[hyperbolic]" not in failed
    assert any(t.startswith("test_masking_future_keys_does_not_change_past_outputs[positive") for t in failed)
    assert row["xfailed"] == 3, row
    assert row["xpassed"] == 3 and all(t.startswith("test_padding_mask") for t in row["xpasses"]), row
    assert verdict["unmatched_deviations"] == ["test_that_does_not_exist"]
    assert "listed as a known deviation, now passes" in proc.stdout
    assert proc.returncode == 1


def test_the_plugin_leaves_other_projects_alone(tmp_path):
    project = tmp_path / "other_project"
    (project / "properties").mkdir(parents=True)
    (project / "properties" / "__init__.py").write_text("OWNER = 'other project'\n")
    (project / "conftest.py").write_text(
        textwrap.dedent(
            """
            def pytest_addoption(parser):
                parser.addoption("--device", default="cpu")
            """
        )
    )
    (project / "test_own.py").write_text(
        textwrap.dedent(
            """
            import properties

            def test_own(request):
                assert properties.OWNER == "other project"
                assert request.config.getoption("--device") == "tpu"
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--device", "tpu", "-v"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_own PASSED" in proc.stdout
    assert "favor:" not in proc.stdout and "FAVOR verdict" not in proc.stdout, proc.stdout
