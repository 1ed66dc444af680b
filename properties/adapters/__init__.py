"""Adapters: an :class:`~properties.implementation.Implementation` record per library."""
