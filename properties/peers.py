"""Gate a real FAVOR implementation (a *peer*) to a verdict, in the peer's own virtual environment.

    python -m favor_suite.peers --list
    python -m favor_suite.peers performer-pytorch                    # what CI runs
    python -m favor_suite.peers fast-transformers --venvs /work/peers  # any peer, one command

For the named peer the runner

1. creates (or reuses: a marker file records the recipe) a virtual environment ``<venvs>/<peer>``
   with the interpreter running the runner, and installs torch==2.13.0 (the CPU wheel), this
   project from its checkout (``pip install <checkout>``, from a copy so the checkout stays clean;
   ``--editable`` installs it in place instead) and the peer's package by its recipe;
2. runs the gate once per record of the peer (a configuration a user would pick), from a temporary
   folder outside the checkout: ``pytest --pyargs favor_suite --favor-impl=<record>
   --hypothesis-profile favor-gate --favor-report <json> -p no:cacheprovider``;
3. matches every failure against the peer's *findings* — data kept beside the adapter
   (:class:`Finding`: the library lines, the mechanism, the evidence, and the test/headline
   patterns it explains) — and writes ``<PEER>_VERDICT.md``: versions, date, commands, timings,
   the table, what passed, and every failure with its headline and its cause. A failure no finding
   explains is marked UNEXPLAINED.

Exit status: 0 when the gate ran to a verdict and every failure is explained (the verdict may
still be "wrong"); 1 when a failure is unexplained; 2 when the install or the gate itself broke.
Only the standard library is imported: the runner works from any environment with the checkout.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEERS", "Finding", "Match", "Peer", "Record", "explain", "main"]

TORCH = "torch==2.13.0"
SOURCE = "{source}"
"""Placeholder in a pip step for this project's checkout (or its copy)."""


# ---------------------------------------------------------------------------- findings (data)
@dataclass(frozen=True)
class Match:
    """Which failures a finding explains: ``test`` is an fnmatch pattern on ``area::test_id``,
    ``headline`` a regular expression searched in the failure's headline (empty: any), and
    ``records`` a record name or an fnmatch pattern on it."""

    test: str
    headline: str = ""
    records: str = "*"


@dataclass(frozen=True)
class Finding:
    """One defect (or limitation) of a peer, traced to its code: ``where`` holds
    ``path/in/the/package.py:line`` references of the installed version, ``mechanism`` says how
    those lines produce the failures (markdown), ``evidence`` what was measured."""

    key: str
    title: str
    where: tuple[str, ...]
    mechanism: str
    matches: tuple[Match, ...]
    evidence: str = ""


def explain(failure: dict, record: str, findings: Sequence[Finding]) -> Finding | None:
    """The finding whose patterns match ``failure`` (``area``, ``test``, ``headline``). The most
    specific match wins: one scoped to some records before one for all, one with a headline
    pattern before one without; ties go to the earlier finding. An *error* (an exception, not a
    violated property) is explained only by a match whose headline pattern names it."""
    case = f"{failure['area']}::{failure['test']}"
    candidates = [
        ((match.records == "*", not match.headline, index), finding)
        for index, finding in enumerate(findings)
        for match in finding.matches
        if (match.headline or failure.get("severity") != "error")
        and (record == match.records or fnmatch.fnmatchcase(record, match.records))
        and fnmatch.fnmatchcase(case, match.test)
        and re.search(match.headline, failure.get("headline", ""))
    ]
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


# ---------------------------------------------------------------------------- peers (recipes)
@dataclass(frozen=True)
class Step:
    """One ``pip install`` in the peer's venv. ``clean_path``: PATH is only the venv and
    /usr/bin:/bin, so no CUDA compiler is found and extensions build for the CPU."""

    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    clean_path: bool = False

    def describe(self, venv: Path) -> str:
        prefix = [f"{k}={v}" for k, v in self.env]
        if self.clean_path:
            prefix.insert(0, f"PATH={venv}/bin:/usr/bin:/bin")
        return " ".join([*(["env", *prefix] if prefix else []), "pip", "install", *self.args])


@dataclass(frozen=True)
class Record:
    """One configuration of a peer: ``spec`` for ``--favor-impl``, a label for the verdict."""

    name: str
    spec: str
    label: str


@dataclass(frozen=True)
class Peer:
    name: str
    title: str
    steps: tuple[Step, ...]
    records: tuple[Record, ...]
    packages: tuple[str, ...]
    findings: str
    verdict: str
    note: str = ""


_BASE = Step((TORCH, SOURCE, "pytest-xdist"))
_FAST_TRANSFORMERS = Step(
    ("--no-build-isolation", "pytorch-fast-transformers==0.4.0"), env=(("MAX_JOBS", "2"),), clean_path=True
)

PEERS = {
    peer.name: peer
    for peer in (
        Peer(
            "performer-pytorch",
            "lucidrains' performer-pytorch 1.1.4",
            (Step((TORCH, SOURCE + "[peer]", "pytest-xdist")),),
            (Record("performer-pytorch", "favor_suite.adapters.performer_pytorch", "FastAttention defaults"),),
            ("performer-pytorch", "einops", "local-attention"),
            "favor_suite.adapters.performer_pytorch_findings:FINDINGS",
            "PERFORMER_PYTORCH_VERDICT.md",
        ),
        Peer(
            "tf-model-garden",
            "TensorFlow Model Garden (tf-models-official 2.20.0) KernelAttention",
            (
                _BASE,
                Step(("tensorflow-cpu==2.20.*", "tf-keras==2.20.*")),
                Step(("--no-deps", "tf-models-official==2.20.0")),
                Step(("gin-config", "scipy")),
            ),
            (
                Record("tf-model-garden[exp]", "favor_suite.adapters.tf_model_garden:EXP", "feature_transform='exp'"),
                Record(
                    "tf-model-garden[expmod]",
                    "favor_suite.adapters.tf_model_garden:EXPMOD",
                    "feature_transform='expmod'",
                ),
            ),
            ("tf-models-official", "tensorflow-cpu", "tf-keras"),
            "favor_suite.adapters.tf_model_garden:FINDINGS",
            "TF_MODEL_GARDEN_VERDICT.md",
        ),
        Peer(
            "fast-transformers",
            "idiap pytorch-fast-transformers 0.4.0 (Favor feature map, LinearAttention, CausalLinearAttention)",
            (_BASE, _FAST_TRANSFORMERS),
            (
                Record(
                    "fast-transformers[unstabilized]",
                    "favor_suite.adapters.fast_transformers:UNSTABILIZED",
                    "Favor(stabilize=False), the default",
                ),
                Record(
                    "fast-transformers[stabilized]",
                    "favor_suite.adapters.fast_transformers:STABILIZED",
                    "Favor(stabilize=True)",
                ),
            ),
            ("pytorch-fast-transformers",),
            "favor_suite.adapters.fast_transformers:FINDINGS",
            "FAST_TRANSFORMERS_VERDICT.md",
        ),
        Peer(
            "tikt-performer",
            "tikt-performer-pytorch 0.15.1.1 (a performer-pytorch fork with qr_uniform_q)",
            (_BASE, _FAST_TRANSFORMERS, Step(("tikt-performer-pytorch==0.15.1.1",))),
            (
                Record(
                    "tikt-performer[no-sign-fix]",
                    "favor_suite.adapters.tikt_performer:NO_SIGN_FIX",
                    "qr_uniform_q=False, the default",
                ),
                Record("tikt-performer[sign-fix]", "favor_suite.adapters.tikt_performer:SIGN_FIX", "qr_uniform_q=True"),
            ),
            ("tikt-performer-pytorch", "pytorch-fast-transformers", "einops", "local-attention"),
            "favor_suite.adapters.tikt_performer:FINDINGS",
            "TIKT_PERFORMER_VERDICT.md",
            note="Its own venv: it installs the module name performer_pytorch, as lucidrains' package does.",
        ),
    )
}


# ---------------------------------------------------------------------------- environment
def _checkout() -> Path | None:
    """The checkout this module lives in (editable install or run from the tree), if any."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() and (here / "properties").is_dir() else None


def _run(argv: Sequence[str], *, log, env: dict | None = None, cwd: Path | None = None) -> float:
    """Run a command, appending its output to ``log``; its duration in seconds; raise on failure."""
    log.write(f"\n$ {' '.join(map(str, argv))}\n")
    log.flush()
    started = time.perf_counter()
    done = subprocess.run(list(map(str, argv)), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {done.returncode} (see {log.name})")
    return time.perf_counter() - started


def _source_copy(source: Path, into: Path) -> Path:
    """A copy of the checkout without VCS, venvs and build outputs: ``pip install`` builds in
    place, and the checkout must stay clean (and may be edited meanwhile)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", ".benchmarks")
    return Path(shutil.copytree(source, into / "favor-suite", ignore=ignore))


def _pip_env(venv: Path, step: Step) -> dict:
    env = dict(os.environ, **dict(step.env))
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv}/bin:/usr/bin:/bin" if step.clean_path else f"{venv}/bin:{env.get('PATH', '')}"
    return env


def install(peer: Peer, venv: Path, source: Path, *, editable: bool, fresh: bool, log) -> dict:
    """Create or reuse the venv; returns what the verdict reports about the install."""
    recipe = [dataclasses.asdict(s) for s in peer.steps]
    digest = hashlib.sha256(json.dumps([recipe, sys.version], sort_keys=True).encode()).hexdigest()[:16]
    marker = venv / "favor-peer.json"
    known = json.loads(marker.read_text()) if marker.is_file() else {}
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory(prefix="favor-src-") as tmp:
        target = str(source) if editable else str(_source_copy(source, Path(tmp)))
        target_arg = (
            (lambda a: ["-e", a.replace(SOURCE, target)]) if editable else (lambda a: [a.replace(SOURCE, target)])
        )
        if known.get("recipe") == digest and not fresh:
            step = Step(("--no-deps", "--force-reinstall", SOURCE))
            seconds = _run([*pip, *step.args[:2], *target_arg(SOURCE)], log=log, env=_pip_env(venv, step))
            return {**known, "reused": True, "refresh_s": round(seconds, 1), "editable": editable}
        if venv.exists():
            shutil.rmtree(venv)
        started = time.perf_counter()
        _run([sys.executable, "-m", "venv", venv], log=log)
        steps = []
        for step in peer.steps:
            args = [x for a in step.args for x in (target_arg(a) if SOURCE in a else [a])]
            seconds = _run([*pip, *args], log=log, env=_pip_env(venv, step))
            steps.append({"command": step.describe(venv).replace(SOURCE, "<checkout>"), "seconds": round(seconds, 1)})
    info = {
        "recipe": digest,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "install_s": round(time.perf_counter() - started, 1),
        "steps": steps,
        "editable": editable,
    }
    marker.write_text(json.dumps(info, indent=2))
    return {**info, "reused": False}


def versions(venv: Path, names: Sequence[str]) -> dict[str, str]:
    """Installed versions in the venv of ``names`` plus the gate's own stack."""
    out = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {_normalized(p["name"]): p["version"] for p in json.loads(out)}
    wanted = ("favor-suite", "torch", "hypothesis", "pytest", "numpy", "scipy", *names)
    return {name: installed.get(_normalized(name), "not installed") for name in dict.fromkeys(wanted)}


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares it: pip lists ``tensorflow_cpu`` for ``tensorflow-cpu``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_findings(venv: Path, spec: str) -> tuple[Finding, ...]:
    """The peer's findings, imported in its venv (the adapter module imports the library)."""
    code = (
        "import dataclasses, importlib, json, sys; m, _, a = sys.argv[1].partition(':'); "
        "print(json.dumps([dataclasses.asdict(f) for f in getattr(importlib.import_module(m), a)]))"
    )
    done = subprocess.run(
        [venv / "bin" / "python", "-c", code, spec], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    if done.returncode != 0:
        print(f"cannot load the findings {spec}: every failure stays unexplained\n{done.stderr}", file=sys.stderr)
        return ()
    out = done.stdout
    return tuple(
        Finding(**{**f, "where": tuple(f["where"]), "matches": tuple(Match(**m) for m in f["matches"])})
        for f in json.loads(out)
    )


def _testcases(junit: Path) -> dict[str, list[str]]:
    """``area::test_id`` of every case by outcome (passed / skipped), from pytest's JUnit XML."""
    by_outcome: dict[str, list[str]] = {"passed": [], "skipped": []}
    if not junit.is_file():
        return by_outcome
    for case in ET.parse(junit).getroot().iter("testcase"):
        area = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        outcome = "skipped" if case.find("skipped") is not None else None
        if case.find("failure") is None and case.find("error") is None and outcome is None:
            outcome = "passed"
        if outcome:
            by_outcome[outcome].append(f"{area}::{case.get('name')}")
    return by_outcome


def gate(venv: Path, record: Record, *, profile: str, areas: Sequence[str], extra: Sequence[str], log) -> dict:
    """One gate run of ``record`` in the venv, from a temporary folder; the plugin's verdict JSON
    plus the passed cases, the command, the exit status and the wall time."""
    with tempfile.TemporaryDirectory(prefix="favor-gate-") as tmp:
        report, junit = Path(tmp, "verdict.json"), Path(tmp, "junit.xml")
        targets = [f"favor_suite.test_{a}" for a in areas] or ["favor_suite"]
        argv = [
            "pytest", "--pyargs", *targets, f"--favor-impl={record.spec}", "--hypothesis-profile", profile,
            "--favor-report", str(report), "-p", "no:cacheprovider", *extra,
        ]  # fmt: skip
        env = dict(os.environ, PATH=f"{venv}/bin:{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(venv))
        log.write(f"\n$ {' '.join(argv)}  (in {tmp})\n")
        log.flush()
        started = time.perf_counter()
        status = subprocess.run(
            [venv / "bin" / "python", "-m", *argv, f"--junit-xml={junit}", "-q"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env, check=False,
        ).returncode  # fmt: skip
        seconds = time.perf_counter() - started
        result = json.loads(report.read_text()) if report.is_file() else None
        cases = _testcases(junit)
    shown = " ".join(a if " " not in a else repr(a) for a in argv).replace(str(report), "<report.json>")
    return {"record": record, "status": status, "seconds": round(seconds, 1), "verdict": result, "cases": cases,
            "command": shown}  # fmt: skip


# ---------------------------------------------------------------------------- the verdict file
_COLUMNS = ("passed", "wrong", "fragile", "contract", "error", "skipped")


def _failures(run: dict) -> list[dict]:
    verdict = run["verdict"] or {"areas": {}}
    return [{**f, "area": area} for area, row in verdict["areas"].items() for f in row["failures"]]


def _table(verdict: dict) -> list[str]:
    lines = ["| area | " + " | ".join(_COLUMNS) + " |", "|---" + "|---:" * len(_COLUMNS) + "|"]
    for area, row in verdict["areas"].items():
        lines.append(f"| {area} | " + " | ".join(str(row[c]) for c in _COLUMNS) + " |")
    lines.append("| **total** | " + " | ".join(f"**{verdict['totals'][c]}**" for c in _COLUMNS) + " |")
    return lines


def render(peer: Peer, runs: list[dict], findings: Sequence[Finding], context: dict) -> tuple[str, int]:
    """The markdown verdict and the number of unexplained failures."""
    out = [
        f"# Verdict: {peer.title} against the FAVOR property suite",
        "",
        f"Generated by `{context['command']}` on {context['date']} — do not edit by hand: the causes below are data in "
        f"`{peer.findings.split(':')[0]}` and every failure is matched against them.",
        "",
        "## Environment, commands and timings",
        "",
        *(f"- {name} {version}" for name, version in context["versions"].items()),
        f"- Python {platform.python_version()} on {platform.machine()}, {context['cpus']} CPUs; suite "
        f"{context['suite']}; Hypothesis profile `{context['profile']}`",
        f"- Virtual environment `{context['venv']}`: {context['install']}",
        *(f"  - `{s['command']}` ({s['seconds']:.0f} s)" for s in context["steps"]),
        *([f"- {peer.note}"] if peer.note else []),
    ]
    unexplained = 0
    observed: dict[str, list[str]] = {}
    for run in runs:
        record, verdict = run["record"], run["verdict"]
        gate_line = f"Gate ({run['seconds']:.0f} s, exit {run['status']}):"
        out += ["", f"## {record.name} — {record.label}", "", gate_line, "", "```", run["command"], "```", ""]
        if verdict is None:
            out += [f"**The gate did not run to a verdict (exit {run['status']}); see the log.**"]
            unexplained += 1
            continue
        caps = ", ".join(verdict["capabilities"])
        out += [f"Capabilities: {caps}. Compute precision: {verdict['compute_precision']}.",
                "", *_table(verdict), ""]  # fmt: skip
        if verdict["skipped_by_capability"]:
            skipped = ", ".join(f"`{c}` {n}" for c, n in sorted(verdict["skipped_by_capability"].items()))
            out += [f"Skipped for a missing capability: {skipped}.", ""]
        passed = run["cases"]["passed"]
        out += [f"**Passed ({len(passed)}):** " + (", ".join(f"`{c}`" for c in passed) or "none") + ".", ""]
        failures = _failures(run)
        out += [f"**Failed ({len(failures)}):**" if failures else "**No failures.**", ""]
        for failure in failures:
            finding = explain(failure, record.name, findings)
            case = f"{failure['area']}::{failure['test']}"
            if finding is None:
                unexplained += 1
                cause = "**UNEXPLAINED** — no finding matches this failure"
            else:
                observed.setdefault(finding.key, []).append(f"{record.name}: `{case}`")
                cause = f"cause [{finding.key}] {finding.title} (`{finding.where[0]}`)"
            out += [f"- `{case}` — {failure['severity'].upper()}: {failure['headline']}", f"  - {cause}"]
    out += ["", "## Causes", ""]
    for finding in findings:
        seen = observed.get(finding.key, [])
        out += [f"### [{finding.key}] {finding.title}", "", "Where: " + ", ".join(f"`{w}`" for w in finding.where), "",
                finding.mechanism.strip(), ""]  # fmt: skip
        if finding.evidence:
            out += ["Evidence: " + finding.evidence.strip(), ""]
        out += [("Failures it explains in this run: " + "; ".join(seen)) if seen else "Not triggered in this run.", ""]
    if unexplained:
        out += [f"**{unexplained} failure(s) UNEXPLAINED: this verdict is incomplete.**", ""]
    return "\n".join(out), unexplained


def _summary_cell(row: dict) -> str:
    """``wrong/fragile/contract/error · passed/skipped``, or "—" where every case was skipped."""
    bad = ("wrong", "fragile", "contract", "error")
    if not sum(row[c] for c in (*bad, "passed")):
        return "—"
    return "/".join(str(row[c]) for c in bad) + f" · {row['passed']}/{row['skipped']}"


def summary(venvs: Path) -> str:
    """README's peers × areas table from the saved runs under ``venvs``: per record and area
    ``wrong/fragile/contract/error · passed/skipped`` ("—" where every case was skipped), the
    findings that explain its failures, and their titles per peer."""
    rows, titles, areas = [], [], None
    for peer in PEERS.values():
        saved = venvs / f"{peer.name}.runs.json"
        if not saved.is_file():
            continue
        findings = {f.key: f for f in load_findings((venvs / peer.name).resolve(), peer.findings)}
        link = f"properties/adapters/{peer.verdict}"
        seen: dict[str, None] = {}
        for run in json.loads(saved.read_text())["runs"]:
            verdict = run["verdict"]
            areas = areas or list(verdict["areas"])
            keys = dict.fromkeys(
                f.key
                for failure in _failures(run)
                if (f := explain(failure, run["record"]["name"], tuple(findings.values()))) is not None
            )
            seen |= keys
            cells = [_summary_cell(verdict["areas"][area]) for area in areas] + [_summary_cell(verdict["totals"])]
            rows.append(
                f"| [{run['record']['name']}]({link}) | " + " | ".join(cells) + " | " + ", ".join(sorted(keys)) + " |"
            )
        titles.append(
            f"- **{peer.title}** ([verdict]({link})): " + "; ".join(f"[{k}] {findings[k].title}" for k in sorted(seen))
        )
    header = ["| record | " + " | ".join(areas or []) + " | total | findings |", "|---" * (len(areas or []) + 3) + "|"]
    legend = "Cells: wrong/fragile/contract/error · passed/skipped; — where no case applies."
    return "\n".join([legend, "", *header, *rows, "", *titles])


# ---------------------------------------------------------------------------- command line
def _install_line(info: dict) -> str:
    mode = "editable" if info.get("editable") else "non-editable"
    if info.get("reused"):
        return (f"reused (created {info['created']}, first install {info['install_s']:.0f} s); this run reinstalled "
                f"the suite ({mode}) in {info['refresh_s']:.0f} s")  # fmt: skip
    return f"created {info['created']} in {info['install_s']:.0f} s (suite {mode})"


def _suite_revision(source: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", source, "status", "--porcelain"], capture_output=True, text=True)
    except OSError:
        return "(not a git checkout)"
    return f"commit `{head.stdout.strip()}`" + (" with uncommitted changes" if dirty.stdout.strip() else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m favor_suite.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", nargs="?", choices=sorted(PEERS))
    parser.add_argument("--list", action="store_true", help="list the peers and their records")
    parser.add_argument("--profile", default="favor-gate", help="Hypothesis profile of the gate (default favor-gate)")
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path(os.environ.get("FAVOR_PEERS_DIR", Path.home() / ".cache" / "favor-suite" / "peers")),
        help="folder of the peers' venvs (default $FAVOR_PEERS_DIR, else ~/.cache/favor-suite/peers)",
    )
    parser.add_argument("--source", type=Path, default=_checkout(), help="this project's checkout (default: this one)")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the verdict (default <source>/properties/adapters)"
    )
    parser.add_argument("--editable", action="store_true", help="install the suite editable (development)")
    parser.add_argument("--fresh", action="store_true", help="recreate the venv even if its recipe is unchanged")
    parser.add_argument("--records", default="*", help="fnmatch pattern on record names (default all)")
    parser.add_argument("--areas", default="", help="comma-separated areas only, e.g. kernel_estimator,projections")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-n 2'")
    parser.add_argument("--install-only", action="store_true", help="create or refresh the venv, run no gate")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the verdict from the saved runs (after editing findings)"
    )
    parser.add_argument("--summary", action="store_true", help="print README's peers table from the saved runs")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(args.venvs))
        return 0
    if args.list or args.peer is None:
        for peer in PEERS.values():
            print(f"{peer.name}: {peer.title}")
            for record in peer.records:
                print(f"    {record.name}: --favor-impl={record.spec} ({record.label})")
        return 0
    if args.source is None or not (args.source / "pyproject.toml").is_file():
        parser.error("--source must name this project's checkout (the folder with pyproject.toml)")
    peer, source = PEERS[args.peer], args.source.resolve()
    venv = (args.venvs / peer.name).resolve()
    out_dir = args.out or source / "properties" / "adapters"
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path, saved = venv.parent / f"{peer.name}.log", venv.parent / f"{peer.name}.runs.json"
    if args.render_only:
        state = json.loads(saved.read_text())
        runs = [{**r, "record": Record(**r["record"])} for r in state["runs"]]
        with log_path.open("a") as log:  # the findings are read from the suite as installed: refresh it
            install(peer, venv, source, editable=args.editable, fresh=False, log=log)
        context = state["context"] | {"versions": versions(venv, peer.packages)}  # the peer's packages are unchanged
        return _finish(peer, runs, load_findings(venv, peer.findings), context, out_dir)
    suite = _suite_revision(source)  # what is installed now: the checkout may change while the gates run
    with log_path.open("a") as log:
        print(f"[{peer.name}] installing into {venv} (log {log_path})", flush=True)
        try:
            info = install(peer, venv, source, editable=args.editable, fresh=args.fresh, log=log)
        except RuntimeError as err:
            print(f"[{peer.name}] install failed: {err}", file=sys.stderr)
            return 2
        print(f"[{peer.name}] {_install_line(info)}", flush=True)
        if args.install_only:
            return 0
        runs = []
        for record in peer.records:
            if not fnmatch.fnmatchcase(record.name, args.records):
                continue
            print(f"[{peer.name}] gate: {record.name}", flush=True)
            areas = [a for a in args.areas.split(",") if a]
            runs.append(gate(venv, record, profile=args.profile, areas=areas, extra=args.pytest_args.split(), log=log))
            print(f"[{peer.name}]   exit {runs[-1]['status']} in {runs[-1]['seconds']:.0f} s", flush=True)
    context = {
        "command": " ".join(["python -m favor_suite.peers", *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.date.today().isoformat(),
        "versions": versions(venv, peer.packages),
        "cpus": os.cpu_count(),
        "suite": suite,
        "profile": args.profile,
        "venv": str(venv),
        "install": _install_line(info),
        "steps": info.get("steps", []),
    }
    saved.write_text(json.dumps({"runs": [{**r, "record": dataclasses.asdict(r["record"])} for r in runs],
                                 "context": context}, default=str))  # fmt: skip
    return _finish(peer, runs, load_findings(venv, peer.findings), context, out_dir)


def _finish(peer: Peer, runs: list[dict], findings: Sequence[Finding], context: dict, out_dir: Path) -> int:
    text, unexplained = render(peer, runs, findings, context)
    target = out_dir / peer.verdict
    target.write_text(text + "\n")
    broken = [r for r in runs if r["verdict"] is None or r["status"] not in (0, 1)]
    print(f"[{peer.name}] verdict written to {target}; {unexplained} unexplained failure(s)", flush=True)
    return 2 if broken else 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
