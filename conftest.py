"""Repository root. The gate is a pytest plugin installed with the package (entry point
``favor_suite``, ``properties/plugin.py``): it registers its options and Hypothesis profiles
itself, so a plain ``pytest`` here and ``pytest --pyargs favor_suite`` anywhere run the same suite.
The self-tests (``properties/meta/``) run here because ``pyproject.toml`` sets
``favor_self_tests = true``."""
