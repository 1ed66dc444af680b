"""Fixtures and case parameters of the suite: a pytest plugin that ``favor_suite.plugin``
registers only in a run that selects the gate (a conftest.py would be ignored when the suite is
collected from outside the rootdir, as ``pytest --pyargs favor_suite`` does).

A test names the cases it runs over with parameters, resolved here before anything is drawn:

``kind``   the feature kinds (``@pytest.mark.kinds``; default positive, hyperbolic, trigonometric);
``mode``   ``"bidirectional"`` and ``"causal"`` (``@pytest.mark.modes`` restricts);
``dtype``  float64, float32, bfloat16, float16 (``@pytest.mark.dtypes`` restricts).

Every case is generated, and the plugin skips, with a reason naming the capability, the cases the
implementation does not declare (``feature:hyperbolic``, ``causal``, ``dtype:bfloat16``): a test is
skipped only when none of its cases apply, and a known deviation can be scoped to a case.
"""

from __future__ import annotations

import pytest
import torch

from favor_suite import plugin
from favor_suite.implementation import ALL_DTYPES, Implementation

KINDS = ("positive", "hyperbolic", "trigonometric")
MODES = ("bidirectional", "causal")


def _dtype_id(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if plugin.area_of(metafunc.definition.path) is None:
        return
    cases = {
        "kind": (KINDS, "kinds", str),
        "mode": (MODES, "modes", str),
        "dtype": (ALL_DTYPES, "dtypes", _dtype_id),
    }
    explicit = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        explicit.update(n.strip() for n in names.split(",")) if isinstance(names, str) else explicit.update(names)
    for name, (default, marker_name, ids) in cases.items():
        if name not in metafunc.fixturenames or name in explicit:
            continue
        marker = metafunc.definition.get_closest_marker(marker_name)
        values = tuple(marker.args) if marker else default
        if name == "dtype":
            values = tuple(getattr(torch, v) if isinstance(v, str) else v for v in values)
        metafunc.parametrize(name, values, ids=[ids(v) for v in values])


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test (``--favor-impl``)."""
    return plugin.implementation(request.config)


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device the properties run on (``--favor-device``)."""
    state = plugin.gate(request.config)
    return state.device if state is not None else torch.device("cpu")


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """The properties run thousands of small tensor ops: one intra-op thread avoids thread-pool
    overhead (5× slower under load with two) and keeps pytest-xdist workers from oversubscribing
    the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
