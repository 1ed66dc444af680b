"""Bad input gets a clear error, never a silent wrong number (issues 2 and 4).

A table of every class of bad input: each must raise ``ValueError`` or ``TypeError`` with a
message naming the offending argument. An empty sequence may instead return an empty output of
the right shape. (Non-finite *values* are not errors: see ``test_causality`` for NaN isolation.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
import torch

from favor_suite.assertions import PropertyViolation
from favor_suite.attention_cases import call

L, D, DV, M = 5, 4, 3, 8


def _good(device):
    gen = torch.Generator(device=device).manual_seed(0)
    q, k = (torch.randn(2, L, D, generator=gen, device=device) for _ in range(2))
    v = torch.randn(2, L, DV, generator=gen, device=device)
    return {"q": q, "k": k, "v": v, "projection": torch.randn(M, D, generator=gen, device=device)}


@dataclass(frozen=True)
class BadInput:
    """One class of bad input: how to spoil the good arguments, and the names the error must mention."""

    name: str
    spoil: object
    names: tuple[str, ...]
    options: dict = field(default_factory=dict)
    needs: tuple[str, ...] = ()


def _set(**changes):
    return lambda a: {**a, **{key: fn(a) for key, fn in changes.items()}}


CASES = [
    BadInput("q/k width mismatch", _set(k=lambda a: a["k"][..., :-1]), ("q", "k")),
    BadInput("k/v length mismatch", _set(v=lambda a: a["v"][..., :-1, :]), ("k", "v")),
    BadInput(
        "q/k length mismatch, causal", _set(q=lambda a: a["q"][..., :-1, :]), ("q", "k"), {"causal": True}, ("causal",)
    ),
    BadInput("projection width mismatch", _set(projection=lambda a: a["projection"][:, :-1]), ("projection",)),
    BadInput("m < 1 (empty projection)", _set(projection=lambda a: a["projection"][:0]), ("projection", "m")),
    BadInput("projection not 2-D", _set(projection=lambda a: a["projection"][None]), ("projection",)),
    BadInput("q of rank 1", _set(q=lambda a: a["q"][0, 0]), ("q",)),
    BadInput("leading dims differ", _set(q=lambda a: torch.cat([a["q"], a["q"]])), ("q", "k")),
    BadInput("integer q", _set(q=lambda a: a["q"].to(torch.int64)), ("q",)),
    BadInput("boolean v", _set(v=lambda a: a["v"] > 0), ("v",)),
    BadInput("q, k, v of different dtypes", _set(k=lambda a: a["k"].double()), ("dtype",)),
    BadInput("q not a tensor", _set(q=lambda a: a["q"].tolist()), ("q",)),
    BadInput("mixed devices", _set(k=lambda a: a["k"].to("meta")), ("device",)),
    BadInput(
        "key_mask of the wrong shape",
        lambda a: a,
        ("key_mask",),
        {"key_mask": torch.ones(2, L + 1, dtype=torch.bool)},
        ("key_mask",),
    ),
    BadInput("key_mask not boolean", lambda a: a, ("key_mask",), {"key_mask": torch.ones(2, L)}, ("key_mask",)),
    BadInput(
        "keys empty but queries not",
        _set(k=lambda a: a["k"][..., :0, :], v=lambda a: a["v"][..., :0, :]),
        ("k", "empty"),
    ),
]


pytestmark = [pytest.mark.severity("contract"), pytest.mark.requires("attention", "input_validation")]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=pytest.mark.requires(*c.needs)) for c in CASES])
def test_bad_input_raises_a_clear_error(impl, device, case):
    args = case.spoil(_good(device))
    options = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in case.options.items()}
    try:
        out = call(impl, args["q"], args["k"], args["v"], args["projection"], **options)
    except (ValueError, TypeError) as err:
        message = str(err)
        if not any(re.search(rf"\b{re.escape(n)}\b", message) for n in case.names):
            raise PropertyViolation(
                f"{case.name}: the error does not name {' or '.join(case.names)}: {message!r}"
            ) from err
        return
    except Exception as err:
        raise PropertyViolation(
            f"{case.name}: raised {type(err).__name__} ({err}), expected ValueError or "
            f"TypeError naming {' or '.join(case.names)}"
        ) from err
    raise PropertyViolation(
        f"{case.name}: no error; returned {type(out).__name__} "
        f"{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}"
    )


def test_empty_sequence_gives_an_empty_output_or_a_clear_error(impl, device, mode):
    """L = 0: an empty ``[..., 0, dv]`` output, or a ValueError that says the sequence is empty."""
    causal = mode == "causal"
    args = _good(device)
    q, k, v = (args[n][..., :0, :] for n in ("q", "k", "v"))
    try:
        out = call(impl, q, k, v, args["projection"], causal=causal)
    except ValueError as err:
        if not re.search(r"empty|length 0|\bL\b", str(err)):
            raise PropertyViolation(f"L = 0 raised ValueError without saying the sequence is empty: {err}") from err
        return
    if tuple(out.shape) != (2, 0, DV):
        raise PropertyViolation(f"L = 0 returned shape {tuple(out.shape)}, expected (2, 0, {DV})")
