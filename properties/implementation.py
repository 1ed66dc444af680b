"""The implementation under test: a small record of optional capabilities, and its loader.

Like an OpInfo record, one :class:`Implementation` declares everything the suite needs to know
about a FAVOR implementation; every test is generic over it. A missing capability skips the
tests that need it, with a reason naming the capability.

Capabilities (all optional):

``sample_projection(m, d, *, orthogonal, norms, generator) -> [m, d]``
    ω rows; ``orthogonal=False`` → iid N(0, I_d); ``orthogonal=True`` → block-orthogonal with
    ``norms="chi"`` (χ_d) or ``norms="fixed"`` (√d). Draws only from ``generator`` (a
    ``torch.Generator`` on the suite's device); any floating dtype, the suite casts to float64.
``feature_map(x, projection, *, kind) -> [..., F]``
    φ(x) for x ``[..., d]`` *as given* (no d^(-1/4) scaling), ``kind`` in ``feature_kinds``.
``attention(q, k, v, projection, *, kind, causal, key_mask) -> [..., L, dv]``
    estimate of softmax(qkᵀ/√d)v; ``key_mask`` ``[..., L]`` bool (True = keep) or None.

Flags: ``feature_kinds``, ``orthogonal``, ``fixed_norms``, ``causal``, ``key_mask``,
``dtypes``, ``autograd``, ``input_validation``, ``chunk_option`` (a keyword of ``attention``
that sets a block length the result must not depend on), ``gerf`` (``feature_map`` and
``attention`` accept ``gerf_a``), ``flop_countable`` (its matmuls are aten ops that
``FlopCounterMode`` sees; a fused kernel's are not), ``torch_ops`` (its computation allocates
torch tensors the dispatcher sees, so the shape and live-memory audits apply; an implementation in
another framework converted at the boundary sets False), ``max_length`` (the longest sequence the
suite should run it on, e.g. 512 under Triton's CPU interpreter; None: the suite's own maxima).

``compute_precision`` declares, per input dtype, the precision of the products (features and
matmul operands) and of the accumulation (sums over the sequence and the features): the rounding
allowances of the suite are derived from it (``reference.rounding``). The default is favor's policy:
fp64 and fp32 compute in their own precision, bf16 and fp16 in fp32. A tensor-core kernel that
multiplies bf16 tiles and accumulates in fp32 declares ``Precision(bfloat16, float32)``. The suite
holds every implementation to sums over the sequence accumulated in at least fp32.

``known_deviations`` maps patterns to the reason the implementation knowingly violates them: a
pattern is a test name, ``area::test_name[case]`` or an fnmatch pattern of either, optionally
followed by ``key=value`` scopes on the case's parameters (``kind=hyperbolic mode=causal``);
matching cases run as xfail.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "ALL_DTYPES",
    "DEFAULT_SPEC",
    "FAVOR_PRECISION",
    "Implementation",
    "ImplementationError",
    "Precision",
    "SupportsFavor",
    "capabilities",
    "describe_precision",
    "load_implementation",
    "precision_of",
    "validate",
]

DEFAULT_SPEC = "favor_suite.adapters.favor_impl"
ALL_DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Precision:
    """The dtypes an implementation computes in, for one input dtype: ``products`` for features and
    matmul operands, ``accumulation`` for sums over the sequence and over features."""

    products: torch.dtype
    accumulation: torch.dtype


FAVOR_PRECISION: Mapping[torch.dtype, Precision] = {
    torch.float64: Precision(torch.float64, torch.float64),
    torch.float32: Precision(torch.float32, torch.float32),
    torch.bfloat16: Precision(torch.float32, torch.float32),
    torch.float16: Precision(torch.float32, torch.float32),
}
"""favor's policy: fp64/fp32 compute in their own precision, bf16/fp16 in fp32."""


@runtime_checkable
class SupportsFavor(Protocol):
    """The typed protocol; :class:`Implementation` satisfies it, and so may any object."""

    name: str
    sample_projection: Callable[..., torch.Tensor] | None
    feature_map: Callable[..., torch.Tensor] | None
    attention: Callable[..., torch.Tensor] | None


@dataclass(frozen=True)
class Implementation:
    """One FAVOR implementation and what it claims to support."""

    name: str
    sample_projection: Callable[..., torch.Tensor] | None = None
    feature_map: Callable[..., torch.Tensor] | None = None
    attention: Callable[..., torch.Tensor] | None = None
    feature_kinds: tuple[str, ...] = ("positive",)
    orthogonal: bool = True
    fixed_norms: bool = True
    causal: bool = True
    key_mask: bool = True
    dtypes: tuple[torch.dtype, ...] = ALL_DTYPES
    autograd: bool = True
    input_validation: bool = True
    chunk_option: str | None = None
    gerf: bool = False
    flop_countable: bool = True
    torch_ops: bool = True
    max_length: int | None = None
    compute_precision: Mapping[torch.dtype, Precision] = field(default_factory=lambda: dict(FAVOR_PRECISION))
    known_deviations: Mapping[str, str] = field(default_factory=dict)


class ImplementationError(RuntimeError):
    """The object named by ``--favor-impl`` cannot be used; the message lists every problem."""


_REQUIRED_KEYWORDS = {
    "sample_projection": (2, ("orthogonal", "norms", "generator")),
    "feature_map": (2, ("kind",)),
    "attention": (4, ("kind", "causal", "key_mask")),
}


def _signature_problem(name: str, fn: Callable[..., Any]) -> str | None:
    positional, keywords = _REQUIRED_KEYWORDS[name]
    if not callable(fn):
        return f"{name} is not callable (got {type(fn).__name__})"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*range(positional), **dict.fromkeys(keywords))
    except TypeError as err:
        return f"{name}{sig} cannot be called as {name}({positional} positional, {', '.join(keywords)}=...): {err}"
    return None


def validate(impl: object) -> Implementation:
    """Check the record against the protocol; raise :class:`ImplementationError` listing all issues."""
    problems = []
    if not isinstance(impl, SupportsFavor):
        missing = [a for a in ("name", "sample_projection", "feature_map", "attention") if not hasattr(impl, a)]
        problems.append(f"missing attributes {missing} (use favor_suite.implementation.Implementation)")
    else:
        for name in _REQUIRED_KEYWORDS:
            fn = getattr(impl, name)
            if fn is not None and (problem := _signature_problem(name, fn)):
                problems.append(problem)
        if all(getattr(impl, n) is None for n in _REQUIRED_KEYWORDS):
            problems.append("no capability at all: sample_projection, feature_map and attention are all None")
    if problems:
        raise ImplementationError(
            f"{getattr(impl, 'name', impl)!r} does not fit the protocol:\n  - " + "\n  - ".join(problems)
        )
    if isinstance(impl, Implementation):
        return impl
    known = {f.name for f in fields(Implementation)}
    return Implementation(**{k: getattr(impl, k) for k in known if hasattr(impl, k)})


def _import(module: str) -> Any:
    if module.endswith(".py") or os.sep in module:
        path = Path(module).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImplementationError(f"cannot load {module}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module)


def load_implementation(spec: str | None = None) -> Implementation:
    """``package.module[:object]`` or ``path/to/file.py[:object]``; the object defaults to
    ``IMPLEMENTATION``. ``None`` → ``$FAVOR_IMPL`` or this project's ``favor``."""
    spec = spec or os.environ.get("FAVOR_IMPL") or DEFAULT_SPEC
    module, _, attr = spec.partition(":")
    try:
        mod = _import(module)
    except ImportError as err:
        raise ImplementationError(f"--favor-impl={spec}: cannot import {module!r}: {err}") from err
    obj = getattr(mod, attr or "IMPLEMENTATION", None)
    if obj is None:
        raise ImplementationError(f"--favor-impl={spec}: {module} has no attribute {attr or 'IMPLEMENTATION'!r}")
    return validate(obj() if inspect.isclass(obj) else obj)


def capabilities(impl: Implementation) -> list[str]:
    """The capability names the implementation offers, as ``requires`` and the header spell them."""
    caps = [n for n in _REQUIRED_KEYWORDS if getattr(impl, n) is not None]
    caps += [f"feature:{k}" for k in impl.feature_kinds]
    caps += [
        n
        for n in (
            "orthogonal",
            "fixed_norms",
            "causal",
            "key_mask",
            "autograd",
            "input_validation",
            "gerf",
            "flop_countable",
            "torch_ops",
        )
        if getattr(impl, n)
    ]
    caps += [f"dtype:{str(t).removeprefix('torch.')}" for t in impl.dtypes]
    if impl.chunk_option:
        caps.append("chunked")
    return caps


def precision_of(impl: Implementation, dtype: torch.dtype) -> Precision:
    """The declared compute precision for inputs of ``dtype`` (favor's policy where undeclared)."""
    return impl.compute_precision.get(dtype, FAVOR_PRECISION[dtype])


def describe_precision(impl: Implementation) -> str:
    """``float32→float32/float32, bfloat16→float32/float32, …`` (input → products/accumulation)."""

    def name(dtype: torch.dtype) -> str:
        return str(dtype).removeprefix("torch.")

    return ", ".join(
        f"{name(t)}→{name(precision_of(impl, t).products)}/{name(precision_of(impl, t).accumulation)}"
        for t in impl.dtypes
    )
