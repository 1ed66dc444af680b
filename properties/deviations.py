"""Known deviations: lines ``PATTERN [key=value …]  # reason`` (a file given with
``--favor-deviations``, or the record's ``known_deviations``), array-api-tests' xfails file with
OpInfo's scoping. A pattern is a test name, ``area::test_name[case]`` or a glob of either (``*``
and ``?`` wildcards, brackets literal); each ``key=value`` must match the case's parameter
(``kind=hyperbolic``, ``mode=causal``, ``dtype=bfloat16``, ``which=k``)."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Deviation", "describe", "load", "matches", "param_text", "parse"]

Deviation = tuple[str, dict[str, str], str]
"""(pattern, scopes, reason)."""


def parse(line: str, default_reason: str) -> Deviation | None:
    text, _, reason = line.partition("#")
    tokens = text.split()
    if not tokens:
        return None
    scopes = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise pytest.UsageError(f"known deviation {line.strip()!r}: scope {token!r} is not key=value")
        scopes[key] = value
    return tokens[0], scopes, reason.strip() or default_reason


def load(impl: Any, path: str | None) -> list[Deviation]:
    """From the record (``known_deviations``: pattern → reason) and ``--favor-deviations``."""
    entries = [parse(f"{pattern} # {reason}", "known deviation") for pattern, reason in impl.known_deviations.items()]
    if path:
        entries += [parse(line, "known deviation") for line in Path(path).read_text().splitlines()]
    return [e for e in entries if e is not None]


def describe(entry: Deviation) -> str:
    pattern, scopes, _ = entry
    return " ".join([pattern, *(f"{k}={v}" for k, v in scopes.items())])


def param_text(value: object) -> str:
    text = str(value).removeprefix("torch.")
    return text.lower() if isinstance(value, bool) else text


def _glob(pattern: str) -> str:
    """``*`` and ``?`` are wildcards; brackets are literal, as in the test ids they are copied from."""
    return "".join(f"[{c}]" if c in "[]" else c for c in pattern)


def matches(item: pytest.Item, area: str, entry: Deviation) -> bool:
    pattern, scopes, _ = entry
    names = (f"{area}::{item.name}", item.name, getattr(item, "originalname", item.name))
    if not any(fnmatch.fnmatchcase(name, _glob(pattern)) for name in names):
        return False
    params = getattr(getattr(item, "callspec", None), "params", {})
    return all(key in params and fnmatch.fnmatchcase(param_text(params[key]), value) for key, value in scopes.items())
