"""favor_suite (this folder): the Hypothesis property suite that gates a FAVOR implementation.

The gate: ``plugin`` (the pytest plugin: selection, profiles, capabilities at collection, known
deviations, reports), ``fixtures`` (case parameters and fixtures), ``verdict`` (the table and the
JSON), ``deviations`` (the known-deviations format). The record: ``implementation``. The core:
``strategies``, ``assertions``, ``checks`` (the draw-free statistical checks), ``attention_cases``
(calls and rounding allowances), ``sampling``, ``budget``, ``audit``. One ``test_*.py`` module per
property area. Tools: ``calibrate``, ``kill_matrix``, ``peers``. The closed forms are
``favor_suite.reference`` (``reference/`` in the repository).
"""
