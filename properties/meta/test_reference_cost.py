"""``reference.cost`` against ``torch.utils.flop_counter.FlopCounterMode`` (MATH 29-31)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import favor
from favor_suite.meta._reference_mc import fail, gen
from favor_suite.reference import cost


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize(
    ("length", "d", "m", "dv", "feature_kind", "causal", "chunk"),
    [
        (16, 4, 8, 3, "positive", False, 128),
        (16, 4, 8, 3, "hyperbolic", False, 128),
        (21, 6, 5, 2, "trigonometric", False, 128),
        (19, 4, 6, 2, "gerf", False, 128),
        (20, 4, 6, 2, "positive", True, 8),
        (33, 8, 16, 5, "hyperbolic", True, 16),
        (17, 3, 4, 1, "trigonometric", True, 64),
        (40, 4, 8, 2, "positive", True, 10),
    ],
)
def test_favor_forward_flops(length: int, d: int, m: int, dv: int, feature_kind: str, causal: bool, chunk: int) -> None:
    """FlopCounterMode around favor.favor_attention (batch 2) = 2 × favor_forward_flops (MATH 29-31)."""
    g = gen(23)
    q, k = torch.randn(2, 2, length, d, generator=g)
    v, w = torch.randn(2, length, dv, generator=g), torch.randn(m, d, generator=g)
    got = _flops(
        lambda: favor.favor_attention(q, k, v, w, kind=feature_kind, causal=causal, chunk_size=chunk, backend="torch")
    )
    expected = 2 * cost.favor_forward_flops(length, d, m, dv, kind=feature_kind, causal=causal, chunk_size=chunk)
    if got != expected:
        fail(
            f"FlopCounterMode counted {got} FLOPs, favor_forward_flops × batch gives {expected}",
            length=length,
            d=d,
            m=m,
            dv=dv,
            kind=feature_kind,
            causal=causal,
            chunk_size=chunk,
        )


@pytest.mark.parametrize(("lq", "lk", "d", "dv"), [(8, 8, 4, 4), (5, 13, 7, 2)])
def test_exact_attention_flops(lq: int, lk: int, d: int, dv: int) -> None:
    """FlopCounterMode around softmax(QKᵀ/√d)V = exact_attention_flops (MATH 29)."""
    g = gen(24)
    q, k, v = torch.randn(lq, d, generator=g), torch.randn(lk, d, generator=g), torch.randn(lk, dv, generator=g)
    got = _flops(lambda: torch.softmax(q @ k.T / math.sqrt(d), dim=-1) @ v)
    expected = cost.exact_attention_flops(lq, lk, d, dv)
    if got != expected:
        fail(f"FlopCounterMode counted {got} FLOPs, exact_attention_flops gives {expected}", lq=lq, lk=lk, d=d, dv=dv)
