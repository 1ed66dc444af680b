"""pytest plugin: implementation selection, device, header, known deviations, verdict table."""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from properties import budget
from properties.implementation import Implementation, ImplementationError, capabilities, load_implementation

__all__ = ["requires"]

_IMPL_KEY = pytest.StashKey[Implementation]()
_CONFIG: dict[str, pytest.Config] = {}
_VERDICT_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("favor", "FAVOR property suite")
    group.addoption(
        "--favor-impl",
        default=None,
        metavar="MODULE[:OBJECT]",
        help="implementation under test (default: $FAVOR_IMPL or this project's favor)",
    )
    group.addoption("--device", default="cpu", help="torch device the properties run on (cpu, cuda, cuda:1 …)")
    group.addoption("--favor-report", default=None, metavar="PATH", help="write the verdict table as JSON")
    group.addoption(
        "--favor-deviations",
        default=None,
        metavar="PATH",
        help="known-deviations file: one 'test-id-pattern  # reason' per line; matches run as xfail",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "false_alarm(alpha): statistical test with false-alarm probability alpha")
    config.addinivalue_line("markers", "mutants: runs the suite against the mutant catalogue (slow)")
    try:
        config.stash[_IMPL_KEY] = load_implementation(config.getoption("--favor-impl"))
    except ImplementationError as err:
        raise pytest.UsageError(str(err)) from err
    device = torch.device(config.getoption("--device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device=cuda was asked for but torch.cuda.is_available() is False")
    _CONFIG["config"] = config
    config.stash[_VERDICT_KEY] = defaultdict(
        lambda: {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "failures": []}
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    impl = config.stash[_IMPL_KEY]
    return [
        f"favor: implementation {impl.name!r}; capabilities: {', '.join(capabilities(impl))}",
        f"favor: hypothesis profile {settings.get_current_profile_name()!r} "
        f"(max_examples={settings.default.max_examples}, derandomize={settings.default.derandomize}); "
        f"torch {torch.__version__}; device {config.getoption('--device')}",
    ]


def _deviations(config: pytest.Config) -> dict[str, str]:
    table = dict(config.stash[_IMPL_KEY].known_deviations)
    path = config.getoption("--favor-deviations")
    if path:
        for line in Path(path).read_text().splitlines():
            pattern, _, reason = line.partition("#")
            if pattern.strip():
                table[pattern.strip()] = reason.strip() or "known deviation"
    return table


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deviations = _deviations(config)
    for item in items:
        for pattern, reason in deviations.items():
            if fnmatch.fnmatch(item.nodeid, pattern) or fnmatch.fnmatch(item.name, pattern):
                item.add_marker(pytest.mark.xfail(reason=f"known deviation: {reason}", strict=False))


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str:
    total = sum(m.args[0] for item in items for m in item.iter_markers("false_alarm"))
    count = sum(1 for item in items if item.get_closest_marker("false_alarm"))
    return (
        f"favor: false-alarm budget {total:.2e} over {count} statistical tests "
        f"(each check at α/(examples × checks), examples = {budget.statistical_examples()})"
    )


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test."""
    return request.config.stash[_IMPL_KEY]


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.config.getoption("--device"))


def requires(impl: Implementation, *needs: str) -> None:
    """Skip unless the implementation offers every capability named (see ``capabilities``)."""
    missing = [n for n in needs if n not in capabilities(impl)]
    if missing:
        pytest.skip(f"implementation {impl.name!r} lacks capability {', '.join(missing)}")


def _area(nodeid: str) -> str | None:
    path = nodeid.split("::")[0]
    if not path.startswith("properties/") or "/meta/" in path or not Path(path).name.startswith("test_"):
        return None
    return Path(path).stem.removeprefix("test_")


def _headline(report: pytest.TestReport) -> str:
    """The first line of the property violation's message, else of whatever was raised."""
    text = str(report.longrepr)
    for line in text.splitlines():
        if "PropertyViolation: " in line:
            return "PropertyViolation: " + line.split("PropertyViolation: ", 1)[1].strip()
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message.splitlines()[0] if crash is not None else text.splitlines()[-1]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG.get("config")
    area = _area(report.nodeid)
    if config is None or area is None:
        return
    row = config.stash[_VERDICT_KEY][area]
    if hasattr(report, "wasxfail"):
        if report.when == "call" or report.skipped:
            row["xfailed"] += 1
    elif report.when == "call" and report.passed:
        row["passed"] += 1
    elif report.failed:
        row["failed"] += 1
        row["failures"].append({"test": report.nodeid.split("::", 1)[-1], "headline": _headline(report)})
    elif report.skipped and report.when in ("setup", "call"):
        row["skipped"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    table = config.stash[_VERDICT_KEY]
    if not table:
        return
    impl = config.stash[_IMPL_KEY]
    tr = terminalreporter
    tr.section(f"FAVOR verdict for {impl.name!r}")
    tr.write_line(f"{'area':<28}{'passed':>8}{'failed':>8}{'skipped':>9}{'xfailed':>9}")
    for area in sorted(table):
        r = table[area]
        tr.write_line(f"{area:<28}{r['passed']:>8}{r['failed']:>8}{r['skipped']:>9}{r['xfailed']:>9}")
    for area in sorted(table):
        for failure in table[area]["failures"]:
            tr.write_line(f"  FAILED {area}: {failure['test']}\n    {failure['headline']}")
    path = config.getoption("--favor-report")
    if path:
        Path(path).write_text(
            json.dumps(
                {
                    "implementation": impl.name,
                    "capabilities": capabilities(impl),
                    "profile": settings.get_current_profile_name(),
                    "exitstatus": int(exitstatus),
                    "areas": {a: dict(table[a]) for a in sorted(table)},
                },
                indent=2,
            )
        )
        tr.write_line(f"verdict written to {path}")
