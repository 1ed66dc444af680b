"""FAVOR+ attention on the Triton kernels of :mod:`favor.triton_kernels`: the launch, the combination
of segment states, and autograd.

Same call and same result as :func:`favor.attention.favor_attention` (positive features), which
stays the readable reference. The sequence is cut into segments, one program per (segment, batch
and head, block of value columns):

* bidirectional: every segment sums its keys into a state (S, z) relative to its own reference;
  the host combines them, S = Σ_s e^{M_s−M}S_s with M = max_s M_s (the max over all keys,
  MATH 19), and a query pass divides φ(q)ᵀS by φ(q)ᵀz;
* causal: segments 0 … NS−2 compute their states the same way, the host turns them into the
  exclusive prefix (the state of everything before segment s, relative to the running max up to
  it: nothing of segment s or later enters), and every segment runs the chunked scan from that
  seed (MATH 30). One segment needs no seed.

Inputs are checked by :func:`favor.validation.check_attention_inputs` in the caller. The backward
pass is not a kernel yet: it recomputes the forward through the PyTorch path and differentiates
that (same gradients as ``backend="torch"``, at that path's cost).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable
from triton.runtime.interpreter import InterpretedFunction

from favor.attention import _exp_gap, favor_attention
from favor.triton_kernels import causal_kernel, query_kernel, segment_state_kernel
from favor.validation import compute_dtype

__all__ = ["INTERPRETED", "PRODUCTS", "Launch", "launch", "triton_favor_attention"]

INTERPRETED: bool = isinstance(causal_kernel, InterpretedFunction)
"""True when ``TRITON_INTERPRET=1`` was set before Triton loaded: kernels run on CPU tensors."""

PRODUCTS: dict[torch.dtype, torch.dtype] = {
    torch.float64: torch.float64,
    torch.float32: torch.float32,
    torch.bfloat16: torch.bfloat16,
    torch.float16: torch.float32,
}
"""Matmul operand dtype per input dtype; sums accumulate in :func:`favor.validation.compute_dtype`
(fp64 for fp64, else fp32). bf16 runs on tensor cores; fp16 stays in fp32 because a state
Σ_j φ(k_j)v_j of a long sequence can exceed fp16's 65504."""

_TL_DTYPES = {torch.float64: tl.float64, torch.float32: tl.float32, torch.bfloat16: tl.bfloat16}

# (largest padded m, tile length C, value block BV, warps): register budget of one program, which
# holds ω [d, m], two feature tiles [C, m] and the state [m, BV] in fp32. First guesses from that
# budget; not yet tuned on a GPU (see benchmarks/RESULTS.md).
_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (64, 64, 64, 4),
    (128, 64, 64, 8),
    (256, 32, 32, 8),
    (512, 16, 32, 8),
)
_WIDE = (16, 16, 8)  # m > 512: runs, but spills registers on a GPU
MIN_TILE = 16  # tl.dot needs every dimension ≥ 16
MAX_SEGMENTS = 64
_PROGRAMS_PER_SM = 2
_MIN_TILES_PER_SEGMENT = {"cuda": 4, "cpu": 1}


@dataclass(frozen=True)
class Launch:
    """One launch configuration: tile length ``chunk``, value block ``block_v``, ``segments`` of
    ``segment`` positions each (a multiple of ``chunk``), padded widths, warps."""

    chunk: int
    block_v: int
    segment: int
    segments: int
    d_pad: int
    m_pad: int
    num_warps: int


@cache
def _multiprocessors(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1


def _pad(n: int) -> int:
    return max(MIN_TILE, triton.next_power_of_2(n))


def launch(device: torch.device, *, length: int, d: int, m: int, dv: int, batch_heads: int, chunk_size: int) -> Launch:
    """The configuration for one call: the table row of m, the tile length capped by the power of
    two ≥ ``chunk_size``, and enough segments that (value blocks × batch-heads × segments) fills
    every multiprocessor twice (on CPU: 2 programs, so that the multi-segment path runs in tests)."""
    m_pad = _pad(m)
    chunk, block_v, warps = next(((c, b, w) for top, c, b, w in _TABLE if m_pad <= top), _WIDE)
    chunk = min(chunk, _pad(chunk_size))
    block_v = min(block_v, _pad(dv))
    programs = triton.cdiv(dv, block_v) * batch_heads
    wanted = math.ceil(_PROGRAMS_PER_SM * _multiprocessors(device) / programs)
    most = max(1, length // (_MIN_TILES_PER_SEGMENT.get(device.type, 1) * chunk))
    segments = max(1, min(wanted, most, MAX_SEGMENTS))
    segment = chunk * triton.cdiv(triton.cdiv(length, segments), chunk)
    return Launch(chunk, block_v, segment, triton.cdiv(length, segment), _pad(d), m_pad, warps)


@dataclass(frozen=True)
class _States:
    """Per (batch-head, segment): S ``[BH, NS, m, dv]``, z ``[BH, NS, m]``, reference M ``[BH, NS]``,
    and the count of non-finite kept keys or values per column ``[BH, NS, dv]``."""

    state: torch.Tensor
    norm: torch.Tensor
    ref: torch.Tensor
    bad: torch.Tensor


def _constants(dtype: torch.dtype, cfg: Launch) -> dict[str, object]:
    """Compile-time arguments shared by the three kernels."""
    return dict(
        C=cfg.chunk,
        D_PAD=cfg.d_pad,
        M_PAD=cfg.m_pad,
        BV=cfg.block_v,
        ACC=_TL_DTYPES[compute_dtype(dtype)],
        PRODUCTS=_TL_DTYPES[PRODUCTS[dtype]],
        INTERPRETED=INTERPRETED,
        num_warps=cfg.num_warps,
    )


def _segment_states(k, v, keep, w, cfg: Launch, segments: int, consts: dict) -> _States:
    bh, length, d = k.shape
    m, dv = w.shape[0], v.shape[-1]
    out = _States(
        w.new_empty(bh, segments, m, dv),
        w.new_empty(bh, segments, m),
        w.new_empty(bh, segments),
        k.new_empty(bh, segments, dv, dtype=torch.int32),
    )
    mask = keep if keep is not None else k
    segment_state_kernel[(triton.cdiv(dv, cfg.block_v), segments, bh)](
        k,
        v,
        mask,
        w,
        out.state,
        out.norm,
        out.ref,
        out.bad,
        length,
        d,
        m,
        dv,
        cfg.segment,
        segments,
        *k.stride(),
        *v.stride(),
        *(mask.stride()[:2]),
        HAS_MASK=keep is not None,
        **consts,
    )
    return out


def _combined(s: _States) -> _States:
    """All segments as one state relative to M = max_s M_s: ``[BH, m, dv]`` etc."""
    if s.ref.shape[1] == 1:
        return _States(s.state[:, 0], s.norm[:, 0], s.ref[:, 0], s.bad[:, 0])
    top = s.ref.amax(dim=1, keepdim=True)
    scale = _exp_gap(s.ref, top)
    return _States(
        torch.einsum("bs,bsfc->bfc", scale, s.state),
        torch.einsum("bs,bsf->bf", scale, s.norm),
        top[:, 0],
        s.bad.sum(dim=1, dtype=torch.int32),
    )


def _prefix_seeds(s: _States) -> _States:
    """Seeds of segments 0 … NS−1 from the states of segments 0 … NS−2: seed_s combines the segments
    t < s relative to M'_s = max_{t<s} M_t (M'_0 = −∞, an empty state)."""
    bh, before = s.ref.shape
    running = torch.cummax(s.ref, dim=1).values
    earlier = torch.ones(before, before, dtype=torch.bool, device=s.ref.device).tril()
    weights = _exp_gap(s.ref[:, None, :], running[:, :, None]).masked_fill(~earlier, 0.0)
    first = _States(
        s.state.new_zeros(bh, 1, *s.state.shape[2:]),
        s.norm.new_zeros(bh, 1, s.norm.shape[2]),
        s.ref.new_full((bh, 1), float("-inf")),
        s.bad.new_zeros(bh, 1, s.bad.shape[2]),
    )
    return _States(
        torch.cat([first.state, torch.einsum("bst,btfc->bsfc", weights, s.state)], dim=1).contiguous(),
        torch.cat([first.norm, torch.einsum("bst,btf->bsf", weights, s.norm)], dim=1).contiguous(),
        torch.cat([first.ref, running], dim=1).contiguous(),
        torch.cat([first.bad, s.bad.cumsum(dim=1, dtype=torch.int32)], dim=1).contiguous(),
    )


def _forward(q, k, v, projection, key_mask, causal: bool, chunk_size: int) -> torch.Tensor:
    lead, (length_q, d), (length_k, dv) = q.shape[:-2], q.shape[-2:], v.shape[-2:]
    bh = math.prod(lead)
    if length_q == 0 or bh == 0 or dv == 0:
        return q.new_zeros(*q.shape[:-1], dv)
    q3, k3, v3 = q.reshape(bh, length_q, d), k.reshape(bh, length_k, d), v.reshape(bh, length_k, dv)
    keep = key_mask.reshape(bh, length_k).to(torch.uint8) if key_mask is not None else None
    w = (projection.to(compute_dtype(q.dtype)) * d**-0.25).contiguous()
    m = w.shape[0]
    cfg = launch(q.device, length=length_k, d=d, m=m, dv=dv, batch_heads=bh, chunk_size=chunk_size)
    consts = _constants(q.dtype, cfg)
    out = q.new_empty(bh, length_q, dv)
    if not causal:
        s = _combined(_segment_states(k3, v3, keep, w, cfg, cfg.segments, consts))
        rows = launch(q.device, length=length_q, d=d, m=m, dv=dv, batch_heads=bh, chunk_size=chunk_size)
        query_kernel[(triton.cdiv(dv, rows.block_v), rows.segments, bh)](
            q3,
            w,
            s.state.contiguous(),
            s.norm.contiguous(),
            s.bad.contiguous(),
            out,
            length_q,
            d,
            m,
            dv,
            rows.segment,
            *q3.stride(),
            *out.stride(),
            **consts,
        )
        return out.reshape(*lead, length_q, dv)
    seeds = _prefix_seeds(_segment_states(k3, v3, keep, w, cfg, cfg.segments - 1, consts)) if cfg.segments > 1 else None
    mask = keep if keep is not None else k3
    s_ptrs = (seeds.state, seeds.norm, seeds.ref, seeds.bad) if seeds is not None else (out, out, out, out)
    causal_kernel[(triton.cdiv(dv, cfg.block_v), cfg.segments, bh)](
        q3,
        k3,
        v3,
        mask,
        w,
        out,
        *s_ptrs,
        length_k,
        d,
        m,
        dv,
        cfg.segment,
        cfg.segments,
        *q3.stride(),
        *k3.stride(),
        *v3.stride(),
        *(mask.stride()[:2]),
        *out.stride(),
        HAS_MASK=keep is not None,
        HAS_SEED=seeds is not None,
        **consts,
    )
    return out.reshape(*lead, length_q, dv)


def _quiet() -> contextlib.AbstractContextManager:
    """The interpreter evaluates masked-off lanes too (−∞ − (−∞), 0/0) and NumPy warns about them;
    a GPU discards them silently."""
    return np.errstate(invalid="ignore", divide="ignore", over="ignore") if INTERPRETED else contextlib.nullcontext()


class _FavorTriton(torch.autograd.Function):
    """Forward on the kernels; backward by differentiating the PyTorch path on the saved inputs."""

    @staticmethod
    def forward(ctx, q, k, v, projection, key_mask, causal, chunk_size):
        ctx.save_for_backward(q, k, v, projection, key_mask)
        ctx.causal, ctx.chunk_size = causal, chunk_size
        with _quiet():
            return _forward(q, k, v, projection, key_mask, causal, chunk_size)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        q, k, v, projection, key_mask = ctx.saved_tensors
        wanted = ctx.needs_input_grad[:4]
        with torch.enable_grad():
            inputs = [x.detach().requires_grad_(need) for x, need in zip((q, k, v, projection), wanted, strict=True)]
            out = favor_attention(
                *inputs, causal=ctx.causal, key_mask=key_mask, chunk_size=ctx.chunk_size, backend="torch"
            )
            grads = iter(torch.autograd.grad(out, [x for x in inputs if x.requires_grad], grad_out))
        return (*(next(grads) if need else None for need in wanted), None, None, None)


def triton_favor_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
    chunk_size: int = 128,
) -> torch.Tensor:
    """FAVOR+ (positive features) on the Triton kernels; inputs as checked by
    :func:`favor.validation.check_attention_inputs`; precision per dtype in :data:`PRODUCTS`.

    ``chunk_size`` caps the kernel's tile length at the power of two ≥ it (at least 16); the result
    does not depend on it. Returns ``[..., Lq, dv]`` in the dtype of q."""
    return _FavorTriton.apply(q, k, v, projection, key_mask, causal, chunk_size)
