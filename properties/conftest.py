"""Settings for the property suite alone (the plugin itself lives in ``plugin.py``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """The properties run thousands of small tensor ops: one intra-op thread avoids thread-pool
    overhead (5× slower under load with two) and keeps pytest-xdist workers from oversubscribing
    the cores. Benchmarks are not affected."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
