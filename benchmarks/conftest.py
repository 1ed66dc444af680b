"""Hooks and parametrisation that belong to the benchmarks only.

* marker ``smoke``: the CI subset (``pytest benchmarks --benchmark-only -m smoke``);
* storage per device: unless ``--benchmark-storage`` is given, runs are saved under
  ``.benchmarks/<device>`` (``cpu`` or the GPU's name), so CPU and GPU histories never compare;
* machine info: torch, CUDA and Triton versions, the device and the GPU's name join what
  pytest-benchmark records, so ``--benchmark-compare`` warns when they change;
* ``--torch-threads``: intra-op threads for the run. The property suite pins one thread
  (``properties/conftest.py``); a benchmark should measure the machine, so the default here is
  torch's own default (all cores); pass 1 on a shared machine;
* ``case``/``contender`` parametrisation from :func:`benchmarks.cases.grid` for ``--favor-device``;
* fixtures ``impl`` (the ``--favor-impl`` implementation, timed as contender ``impl``) and ``device``.

``--favor-device`` and ``--favor-impl`` are the gate plugin's options (``properties/plugin.py``).
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.cases import grid
from benchmarks.history import device_slug
from favor_suite.implementation import Implementation, load_implementation

_DEFAULT_STORAGE = "file://./.benchmarks"
_DEFAULT_THREADS = torch.get_num_threads()  # torch's default, read before anything changes it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--torch-threads", type=int, default=_DEFAULT_THREADS, metavar="N",
                     help="intra-op threads for the benchmarks (default: torch's default, %(default)s here)")


def pytest_configure(config: pytest.Config) -> None:
    """Runs before pytest-benchmark's own ``pytest_configure`` (trylast), which opens the storage."""
    config.addinivalue_line("markers", "smoke: the small benchmark subset CI runs (< 60 s on 2 CPU cores)")
    if config.getoption("benchmark_storage") == _DEFAULT_STORAGE:
        device = torch.device(config.getoption("--favor-device"))
        config.option.benchmark_storage = f"{_DEFAULT_STORAGE}/{device_slug(device)}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The benchmark's intra-op threads, set once before any case runs."""
    torch.set_num_threads(session.config.getoption("--torch-threads"))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Also called during ``pytest_configure`` when comparing, so it reports the option's thread
    count (what the tests run with), not the current one."""
    device = torch.device(config.getoption("--favor-device"))
    machine_info["device"] = str(device)
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = config.getoption("--torch-threads")
    machine_info["cuda"] = torch.version.cuda
    if device.type == "cuda":
        machine_info["gpu"] = torch.cuda.get_device_name(device)
    try:
        import triton
    except ImportError:
        return
    machine_info["triton"] = triton.__version__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not {"case", "contender"} <= set(metafunc.fixturenames):
        return
    device = torch.device(metafunc.config.getoption("--favor-device"))
    params = [
        pytest.param(case, name, id=f"{name}-{case.id}", marks=[pytest.mark.smoke] if case.smoke else [])
        for case in grid(device)
        for name in case.contenders
    ]
    metafunc.parametrize(("case", "contender"), params)


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation given with ``--favor-impl`` (this package's favor by default)."""
    return load_implementation(request.config.getoption("--favor-impl"))


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.config.getoption("--favor-device"))
