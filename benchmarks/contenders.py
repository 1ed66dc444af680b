"""The attentions that are timed, all as ``attention(q, k, v) -> out`` closures.

q, k, v: ``[batch, heads, L, d]``; out: ``[batch, heads, L, d]`` in the dtype of q.

``favor-torch``     :func:`favor.favor_attention` on its PyTorch code (``backend="torch"``), FAVOR+.
``favor-triton``    the same call on the Triton kernels (``backend="triton"``); CUDA only here: on a
                    CPU they would run under Triton's interpreter, which times Python, not kernels.
``favor-compiled``  ``torch.compile`` of the PyTorch code (CUDA only: compiling each shape costs
                    minutes on a CPU); causal with at most 64 scan blocks (chunk L/64, at least 128),
                    since the compiler unrolls the Python loop over blocks. Forward only.
``exact``           softmax(q kᵀ/√d) v in plain torch, in the working dtype, with the L×L scores
                    materialised — what a model without a fused kernel runs (not the float64 reference).
``sdpa``            :func:`torch.nn.functional.scaled_dot_product_attention`, whichever backend it picks.
``fla``             fla's ``chunk_linear_attn`` (flash-linear-attention, when installed; CUDA) on
                    features φ(q̃), φ(k̃) precomputed outside the timing: the linear-attention core
                    alone, the lower bound of an assembly from public parts. Forward only (the
                    features are inputs, so no gradient reaches q and k).
``impl``            the implementation selected with ``--favor-impl`` (``properties`` plugin's ``impl``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

import favor
from benchmarks.cases import Case
from favor_suite.implementation import Implementation

__all__ = [
    "Attention",
    "build",
    "exact_attention",
    "impl_unavailable",
    "quadratic_bytes",
    "sdpa_attention",
    "unavailable",
]

Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

_CUDA_ONLY = {
    "favor-triton": "the Triton kernels are timed on CUDA only (on CPU they run under the interpreter)",
    "favor-compiled": "torch.compile'd favor is timed on CUDA only (compiling each shape takes minutes on CPU)",
    "fla": "fla's chunk_linear_attn needs CUDA",
}
_FORWARD_ONLY = {
    "favor-compiled": "torch.compile'd favor is timed forward only (a recompile per shape and pass)",
    "fla": "fla on precomputed features: no gradient reaches q and k",
}
_COMPILED_MAX_BLOCKS = 64


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


def unavailable(name: str, case: Case, device: torch.device) -> str | None:
    """Why the built-in contender ``name`` cannot run ``case`` on ``device``, or None if it can."""
    if name in _CUDA_ONLY and device.type != "cuda":
        return _CUDA_ONLY[name]
    if name in _FORWARD_ONLY and case.backward:
        return _FORWARD_ONLY[name]
    if name == "favor-triton" and importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install 'favor-suite[gpu]')"
    if name == "fla" and importlib.util.find_spec("fla") is None:
        return "fla (flash-linear-attention) is not installed"
    return None


def impl_unavailable(impl: Implementation, case: Case) -> str | None:
    """Why the ``--favor-impl`` implementation cannot run ``case``, or None if it can."""
    if impl.attention is None:
        return f"implementation {impl.name!r} has no attention"
    if impl.attention is favor.favor_attention or impl.name in ("favor", "favor-triton"):
        return f"--favor-impl is this project's {impl.name}, already timed as 'favor-torch' and 'favor-triton'"
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


def _compiled(case: Case, projection: torch.Tensor) -> Attention:
    chunk = max(128, -(-case.length // _COMPILED_MAX_BLOCKS))
    fn = partial(favor.favor_attention, projection=projection, causal=case.causal, chunk_size=chunk, backend="torch")
    return torch.compile(fn, dynamic=False)


def _fla(case: Case, projection: torch.Tensor, inputs: tuple[tuple[torch.Tensor, ...], ...]) -> Attention:
    """chunk_linear_attn(φ(q̃), φ(k̃), v) in fla's ``[B, T, H, ·]`` layout, scale 1, normalised;
    features for every input copy are computed here, before the timing."""
    from fla.ops.linear_attn import chunk_linear_attn

    scale = case.d**-0.25
    prepared = {}
    for q, k, v in inputs:
        qf, kf = (favor.feature_map(x.float() * scale, projection.float()).to(case.dtype) for x in (q, k))
        prepared[q.data_ptr()] = tuple(x.transpose(1, 2).contiguous() for x in (qf, kf, v.detach()))

    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        qf, kf, vt = prepared[q.data_ptr()]
        return chunk_linear_attn(qf, kf, vt, scale=1.0, normalize=True)[0]

    return attention


def build(
    name: str, case: Case, *, projection: torch.Tensor, impl: Implementation | None,
    inputs: tuple[tuple[torch.Tensor, ...], ...] = (),
) -> Attention:
    """The contender ``name`` for ``case``; check :func:`unavailable` (and :func:`impl_unavailable`
    for ``"impl"``) first. ``impl`` is needed for ``"impl"`` only, ``inputs`` (the (q, k, v)
    copies that will be timed) for ``"fla"`` only."""
    if name == "favor-torch":
        return partial(favor.favor_attention, projection=projection, causal=case.causal, backend="torch")
    if name == "favor-triton":
        return partial(favor.favor_attention, projection=projection, causal=case.causal, backend="triton")
    if name == "favor-compiled":
        return _compiled(case, projection)
    if name == "exact":
        return partial(exact_attention, causal=case.causal)
    if name == "sdpa":
        return partial(sdpa_attention, causal=case.causal)
    if name == "fla":
        return _fla(case, projection, inputs)
    if name == "impl" and impl is not None:
        return _impl_attention(impl, projection, case.causal)
    raise ValueError(f"unknown contender {name!r} (or 'impl' without an implementation)")
