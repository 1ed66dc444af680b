"""Meta tests: the suite's own truths (``reference/``) checked against seeded Monte Carlo."""
