"""Root conftest: Hypothesis profiles and the FAVOR plugin (``properties/plugin.py``).

Profiles (select with ``--hypothesis-profile``):
  default   derandomized, no example database, no deadline, 25 examples per test: the same
            examples on every machine and every run, so a verdict is reproducible.
  thorough  random, 250 examples per test: explores; run it before a release.
"""

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
    report_multiple_bugs=False,
)
settings.register_profile("default", derandomize=True, max_examples=25, **_COMMON)
settings.register_profile("thorough", derandomize=False, max_examples=250, **_COMMON)
settings.load_profile("default")

pytest_plugins = ["properties.plugin"]
