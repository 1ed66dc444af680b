"""The FAVOR gate as a pytest plugin (entry point ``favor_suite`` → ``favor_suite.plugin``).

Installed with the package, the plugin is present in every pytest run on the machine, so it stays
inert unless the gate is *selected*: a collection argument inside the suite's folder
(``pytest --pyargs favor_suite``, this repository's ``properties/``, or one of its files). Then it

* loads the implementation under test (``--favor-impl``, else ``$FAVOR_IMPL``, else ``favor``);
* runs the suite under one of its own Hypothesis profiles (``favor-default`` unless another
  ``favor-*`` profile is asked for with ``--hypothesis-profile``);
* resolves capabilities at collection, before anything is drawn: a test case whose requirements
  (``@pytest.mark.requires`` and its ``kind``/``mode``/``dtype`` parameters) the record lacks is
  skipped with a reason naming the capability;
* applies known deviations as xfail, scoped by test pattern and parameters, and reports patterns
  that match nothing and deviations that now pass;
* prints the verdict: per area, passed and failed by severity (wrong / fragile / contract), and
  writes it as JSON with ``--favor-report``.

Options are namespaced (``--favor-*``); nothing is imported beyond pytest, and nothing is
collected or printed, in a run that does not select the gate. The suite's self-tests
(``meta/``) are collected only when asked: ``-m meta``, ``-m mutants``, or the ini option
``favor_self_tests = true`` (set in this repository's pyproject).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from favor_suite import deviations
from favor_suite.verdict import SEVERITIES, Gate, budget_line, verdict, write

__all__ = ["AREAS", "PROFILES", "SEVERITIES", "SUITE_DIR", "area_of", "case_requirements", "gate", "implementation"]

SUITE_DIR = Path(__file__).resolve().parent
AREAS = tuple(sorted(p.stem.removeprefix("test_") for p in SUITE_DIR.glob("test_*.py")))
PROFILES = ("favor-default", "favor-thorough", "favor-gate")


_GATE = pytest.StashKey[Gate]()
_RUN: dict[str, Gate] = {}
"""The gate of the running session, for the hooks that get no config (pytest_runtest_logreport)."""


def gate(config: pytest.Config) -> Gate | None:
    """The gate's state, or None when this run does not select the gate."""
    return config.stash.get(_GATE, None)


def implementation(config: pytest.Config) -> Any:
    """The implementation under test (the gate must be selected)."""
    state = gate(config)
    if state is None:
        raise RuntimeError("the FAVOR gate is not selected in this run")
    return state.impl


# ---------------------------------------------------------------------------- options, selection
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("favor", "FAVOR gate (favor-suite)")
    group.addoption(
        "--favor-impl",
        default=None,
        metavar="MODULE[:OBJECT]",
        help="implementation under test: a module or file path, object IMPLEMENTATION by default "
        "(default: $FAVOR_IMPL, else this package's favor)",
    )
    group.addoption("--favor-device", default="cpu", help="torch device the properties run on (cpu, cuda, cuda:1 …)")
    group.addoption("--favor-report", default=None, metavar="PATH", help="write the verdict as JSON to PATH")
    group.addoption(
        "--favor-deviations",
        default=None,
        metavar="PATH",
        help="known-deviations file: 'PATTERN [key=value …]  # reason' per line; matching cases run as xfail",
    )
    parser.addini(
        "favor_self_tests", "collect the gate's self-tests (meta/) without -m meta", type="bool", default=False
    )


def _argument_path(config: pytest.Config, arg: str) -> Path | None:
    target = arg.split("::", 1)[0]
    path = Path(config.invocation_params.dir, target)
    if path.exists():
        return path.resolve()
    if config.option.pyargs:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            return None
        if spec is not None and spec.origin:
            origin = Path(spec.origin)
            return (origin.parent if origin.name == "__init__.py" else origin).resolve()
    return None


def _selects_gate(config: pytest.Config) -> bool:
    for arg in config.args:
        path = _argument_path(config, arg)
        if path is not None and (path == SUITE_DIR or SUITE_DIR in path.parents or path in SUITE_DIR.parents):
            return True
    return False


def _register_profiles() -> None:
    """favor-default: derandomized (the same examples on every machine), no example database, no
    deadline, no explain phase, 25 examples (a statistical test runs an eighth, at least 3).
    favor-thorough: the same, random, 250 examples: explores; run it before a release.
    favor-gate: favor-default without shrinking: a verdict as fast for a broken implementation
    as for a correct one (a failure is reported with the example that found it)."""
    from hypothesis import HealthCheck, Phase, settings

    common = dict(
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    )
    settings.register_profile("favor-default", derandomize=True, max_examples=25, **common)
    settings.register_profile("favor-thorough", derandomize=False, max_examples=250, **common)
    settings.register_profile(
        "favor-gate", parent=settings.get_profile("favor-default"), phases=(Phase.explicit, Phase.generate)
    )


def _asked_for_self_tests(config: pytest.Config) -> bool:
    markexpr = config.option.markexpr or ""
    return (
        bool(config.getini("favor_self_tests"))
        or "meta" in markexpr
        or ("mutants" in markexpr and "not mutants" not in markexpr)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "requires(*capabilities): the test needs these capabilities of the implementation under test",
        "severity(name): wrong, fragile or contract: what a failure of this test says",
        "false_alarm(alpha): statistical test with false-alarm probability alpha",
        "kinds(*kinds): feature kinds the test's 'kind' parameter runs over",
        "modes(*modes): attention modes ('bidirectional', 'causal') the test's 'mode' parameter runs over",
        "dtypes(*dtypes): dtypes the test's 'dtype' parameter runs over",
        "meta: a self-test of the gate (collected with -m meta, or in its repository)",
        "mutants: runs the gate against the mutant catalogue (slow)",
    ):
        config.addinivalue_line("markers", line)
    _RUN.pop("gate", None)
    if not _selects_gate(config):
        return
    import torch

    from favor_suite.implementation import ImplementationError, load_implementation

    _register_profiles()
    try:
        impl = load_implementation(config.getoption("favor_impl"))
    except ImplementationError as err:
        raise pytest.UsageError(str(err)) from err
    device = torch.device(config.getoption("favor_device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--favor-device=cuda was asked for but torch.cuda.is_available() is False")
    config.stash[_GATE] = _RUN["gate"] = Gate(impl, device, deviations.load(impl, config.getoption("favor_deviations")))
    config.pluginmanager.import_plugin("favor_suite.fixtures")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite's statistics assume its own profile: load favor-default unless a favor-* profile
    (or a verbosity variant of one) was asked for. Test modules are imported after this."""
    if gate(session.config) is None:
        return
    from hypothesis import settings

    if not settings.get_current_profile_name().startswith("favor-"):
        settings.load_profile("favor-default")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == SUITE_DIR / "meta" and not _asked_for_self_tests(config):
        return True
    return None


# ---------------------------------------------------------------------------- collection
def area_of(path: Path) -> str | None:
    """The property area of a test file of the suite (``test_<area>.py``), None for anything else."""
    path = Path(path)
    if path.parent != SUITE_DIR or not path.name.startswith("test_"):
        return None
    return path.stem.removeprefix("test_")


def case_requirements(params: dict[str, object]) -> list[str]:
    """Capabilities implied by a test case's parameters: a causal mode, a dtype, a feature kind."""
    needs = []
    if params.get("mode") == "causal":
        needs.append("causal")
    if "dtype" in params:
        needs.append(f"dtype:{deviations.param_text(params['dtype'])}")
    if "kind" in params:
        needs.append(f"feature:{params['kind']}")
    return needs


_MISSING = pytest.StashKey[list[str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs before -k/-m deselection, so a deviation matching a deselected case is not 'unmatched'."""
    for item in items:
        if SUITE_DIR / "meta" in Path(item.path).parents:
            item.add_marker(pytest.mark.meta)
    state = gate(config)
    if state is None:
        return
    from favor_suite.implementation import capabilities

    offered = set(capabilities(state.impl))
    areas = set()
    total, statistical = 0.0, 0
    for item in items:
        area = area_of(item.path)
        if area is None:
            continue
        areas.add(area)
        counts = state.cases.setdefault(area, {"applicable": 0, "skipped_by_capability": {}})
        params = getattr(getattr(item, "callspec", None), "params", {})
        needs = [n for mark in item.iter_markers("requires") for n in mark.args] + case_requirements(params)
        missing = sorted(set(needs) - offered, key=needs.index)
        if missing:
            for capability in missing:
                skipped = counts["skipped_by_capability"]
                skipped[capability] = skipped.get(capability, 0) + 1
            item.stash[_MISSING] = missing
            item.add_marker(
                pytest.mark.skip(reason=f"implementation {state.impl.name!r} lacks capability {', '.join(missing)}")
            )
            continue
        counts["applicable"] += 1
        for entry in state.deviations:
            if deviations.matches(item, area, entry):
                state.matched.add(deviations.describe(entry))
                item.add_marker(pytest.mark.xfail(reason=f"known deviation: {entry[2]}", strict=False))
        alpha = item.get_closest_marker("false_alarm")
        if alpha is not None:
            total += alpha.args[0]
            statistical += 1
    state.budget = (total, statistical)
    if areas:
        state.unmatched = [
            deviations.describe(e) for e in state.deviations if deviations.describe(e) not in state.matched
        ]


# ---------------------------------------------------------------------------- reports
def _violation(excinfo: pytest.ExceptionInfo[BaseException]) -> BaseException:
    """The PropertyViolation inside a Hypothesis exception group, else the exception itself."""
    from favor_suite.assertions import PropertyViolation

    exc = excinfo.value
    stack = [exc]
    while stack:
        current = stack.pop()
        if isinstance(current, PropertyViolation):
            return current
        stack.extend(getattr(current, "exceptions", ()))
    return exc


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    state = gate(item.config)
    area = area_of(item.path)
    if state is None or area is None:
        return
    report = outcome.get_result()
    report.user_properties.append(("favor_area", area))
    report.user_properties.append(("favor_case", f"{area}::{item.name}"))
    if report.skipped and _MISSING in item.stash:
        report.user_properties.append(("favor_missing", ", ".join(item.stash[_MISSING])))
    if report.failed and call.excinfo is not None:
        from favor_suite.assertions import PropertyViolation

        exc = _violation(call.excinfo)
        if isinstance(exc, PropertyViolation):
            marker = item.get_closest_marker("severity")
            severity = exc.severity or (marker.args[0] if marker else "wrong")
            headline = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            severity = "error"
            first = (str(exc).splitlines() or [""])[0]
            headline = f"{type(exc).__name__}: {first}"
        report.user_properties.append(("favor_severity", severity))
        report.user_properties.append(("favor_headline", headline))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _RUN.get("gate")
    props = dict(report.user_properties)
    if state is None or "favor_area" not in props:
        return
    row = state.row(props["favor_area"])
    test = props["favor_case"].split("::", 1)[1]
    if hasattr(report, "wasxfail"):
        if report.skipped:
            row["xfailed"] += 1
        elif report.passed and report.when == "call":
            row["xpassed"] += 1
            row["xpasses"].append(test)
    elif report.failed:
        severity = props.get("favor_severity", "error")
        row[severity] += 1
        row["failures"].append({"test": test, "severity": severity, "headline": props.get("favor_headline", "")})
    elif report.skipped and report.when in ("setup", "call"):
        row["skipped"] += 1
        for capability in props.get("favor_missing", "other (see -rs)").split(", "):
            row["skipped_by_capability"][capability] += 1
    elif report.passed and report.when == "call":
        row["passed"] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: send what only collection knows (budget, unmatched deviations) home."""
    state = gate(session.config)
    workeroutput = getattr(session.config, "workeroutput", None)
    if state is not None and workeroutput is not None:
        workeroutput["favor_budget"] = state.budget
        workeroutput["favor_unmatched"] = state.unmatched
        workeroutput["favor_cases"] = state.cases


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: what the workers' collections found (they all collect the same)."""
    state = _RUN.get("gate")
    output = getattr(node, "workeroutput", {})
    if state is not None and output.get("favor_budget") is not None:
        state.budget = tuple(output["favor_budget"])
        state.unmatched = list(output.get("favor_unmatched", []))
        state.cases = dict(output.get("favor_cases", {}))


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = gate(config)
    if state is None:
        return None
    import torch
    from hypothesis import settings

    from favor_suite.implementation import capabilities, describe_precision

    impl = state.impl
    current = settings.default
    return [
        f"favor: implementation {impl.name!r}; capabilities: {', '.join(capabilities(impl))}",
        f"favor: declared compute precision: {describe_precision(impl)}",
        f"favor: hypothesis profile {settings.get_current_profile_name()!r} (max_examples={current.max_examples}, "
        f"derandomize={current.derandomize}, phases={','.join(p.name for p in current.phases)}); "
        f"torch {torch.__version__}; device {state.device}",
    ]


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    state = gate(config)
    return budget_line(state) if state is not None and state.budget is not None and state.budget[1] else None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = gate(config)
    if state is None or not (state.rows or state.cases):
        return
    result = verdict(state, exitstatus)
    path = config.getoption("favor_report")
    if not state.rows:
        if path:
            Path(path).write_text(json.dumps(result, indent=2))
        return
    write(terminalreporter, state, result)
    if path:
        Path(path).write_text(json.dumps(result, indent=2))
        terminalreporter.write_line(f"verdict written to {path}")
