"""The attentions that are timed, all as ``attention(q, k, v) -> out`` closures.

q, k, v: ``[batch, heads, L, d]``; out: ``[batch, heads, L, d]`` in the dtype of q.

``favor``  this project's :func:`favor.favor_attention` (positive features, FAVOR+).
``exact``  softmax(q kᵀ/√d) v in plain torch, in the working dtype, with the L×L scores
           materialised — what a model without a fused kernel runs (not the float64 reference).
``sdpa``   :func:`torch.nn.functional.scaled_dot_product_attention`, whichever backend it picks.
``impl``   the implementation selected with ``--favor-impl`` (``properties`` plugin's ``impl``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

import favor
from benchmarks.cases import Case
from favor_suite.implementation import Implementation

__all__ = ["Attention", "build", "exact_attention", "impl_unavailable", "quadratic_bytes", "sdpa_attention"]

Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def exact_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool) -> torch.Tensor:
    """softmax(q kᵀ/√d) v with tril masking when causal (MATH 1), in the dtype of q; O(L²) memory."""
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if causal:
        length = q.shape[-2]
        future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool) -> torch.Tensor:
    """:func:`torch.nn.functional.scaled_dot_product_attention` (scale 1/√d, the default)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def quadratic_bytes(name: str, case: Case) -> int:
    """Rough peak bytes of the L×L tensors a contender holds: ``exact`` keeps the scores, their
    masked copy and the softmax (3 of them), plus two gradients of that size backward; others 0."""
    if name != "exact":
        return 0
    copies = 5 if case.backward else 3
    itemsize = torch.empty((), dtype=case.dtype).element_size()
    return copies * case.batch * case.heads * case.length**2 * itemsize


def impl_unavailable(impl: Implementation, case: Case) -> str | None:
    """Why the ``--favor-impl`` implementation cannot run ``case``, or None if it can."""
    if impl.attention is None:
        return f"implementation {impl.name!r} has no attention"
    if impl.attention is favor.favor_attention:
        return "--favor-impl is this project's favor, already timed as 'favor'"
    if case.causal and not impl.causal:
        return f"implementation {impl.name!r} lacks causal attention"
    if case.dtype not in impl.dtypes:
        return f"implementation {impl.name!r} does not support {case.dtype}"
    if case.backward and not impl.autograd:
        return f"implementation {impl.name!r} does not support autograd"
    return None


def _impl_attention(impl: Implementation, projection: torch.Tensor, causal: bool) -> Attention:
    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return impl.attention(q, k, v, projection, kind="positive", causal=causal, key_mask=None)

    return attention


def build(name: str, case: Case, *, projection: torch.Tensor, impl: Implementation | None) -> Attention:
    """The contender ``name`` for ``case``. ``impl`` is needed for ``"impl"`` only; check
    :func:`impl_unavailable` first."""
    if name == "favor":
        return partial(favor.favor_attention, projection=projection, causal=case.causal)
    if name == "exact":
        return partial(exact_attention, causal=case.causal)
    if name == "sdpa":
        return partial(sdpa_attention, causal=case.causal)
    if name == "impl" and impl is not None:
        return _impl_attention(impl, projection, case.causal)
    raise ValueError(f"contender must be favor, exact, sdpa or impl (with an implementation), got {name!r}")
