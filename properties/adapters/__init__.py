"""Adapters: an :class:`~favor_suite.implementation.Implementation` record per library."""
