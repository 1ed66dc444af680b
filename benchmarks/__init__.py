"""Benchmarks: attention speed (pytest-benchmark) and the figures of ``python -m benchmarks.plots``.

Modules: ``cases`` (the grids per device), ``contenders`` (the attentions timed), ``harness``
(synchronised timing, input rotation), ``probe`` (peak memory, SDPA backend), ``scaling``,
``kernel_mse`` and ``output_error`` (the data behind each figure), ``plots`` (the figures).
"""
