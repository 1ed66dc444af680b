"""FAVOR+ attention: Ŷ = D̂⁻¹ φ(Q̃)(φ(K̃)ᵀ[V 1]), linear in the sequence length L.

q̃ = d^(-1/4)·q, k̃ = d^(-1/4)·k, so φ(q̃_i)ᵀφ(k̃_j) estimates exp(q_iᵀk_j/√d) (MATH 1, 17;
[P] Choromanski et al. 2021, eq. 4 and Alg. 1). The normalizer is computed in the same matmul by
appending a column of ones to V (MATH 29). Causal attention runs a chunked prefix-sum scan
([P] eq. 11, MATH 30): per chunk a C×C block and one ``[F, dv+1]`` state, so memory is
O(C² + F·dv) per batch element, never L×L nor L×F×dv.

Stabilization (MATH 19): queries drop their per-row scale (it cancels between numerator and
normalizer); keys are rescaled to a reference M that is the max log-scale over all keys
(bidirectional) or over keys ≤ i (causal, a running max: future keys never touch it). Both cancel
exactly; there is no additive ε.

Non-finite inputs: they are replaced by 0 for the arithmetic and the outputs that depend on them
are set to NaN afterwards, so a NaN reaches exactly its dependents: query i → row i; key or value
j → every row (bidirectional) or the rows ≥ j (causal); masked keys → nothing.
"""

from __future__ import annotations

import math

import torch

from favor.backend import choose_backend
from favor.features import split_features
from favor.gerf import optimal_gerf_parameter
from favor.validation import check_attention_inputs, compute_dtype

__all__ = ["favor_attention"]


def _exp_gap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """exp(a − b), with exp(−∞ − (−∞)) := 0: a reference of −∞ means nothing has entered yet."""
    return torch.exp(torch.where(torch.isneginf(b), float("-inf"), a - b))


def _sanitize(x: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(x), x, torch.zeros((), dtype=x.dtype, device=x.device))


def _poison(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor, causal: bool) -> torch.Tensor:
    """``[..., Lq, dv]`` bool: the outputs that depend on a non-finite input."""
    bad_q = ~torch.isfinite(q).all(dim=-1)
    bad_kv = (~torch.isfinite(k).all(dim=-1, keepdim=True) | ~torch.isfinite(v)) & keep.unsqueeze(-1)
    if causal:
        bad_kv = bad_kv.cumsum(dim=-2) > 0
    else:
        bad_kv = bad_kv.any(dim=-2, keepdim=True)
    return bad_kv | bad_q.unsqueeze(-1)


def _bidirectional(qb: torch.Tensor, kb: torch.Tensor, k_log: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    ref = k_log.detach().amax(dim=-1, keepdim=True)
    kf = kb * _exp_gap(k_log, ref).unsqueeze(-1)
    return qb @ (kf.transpose(-2, -1) @ v1)


def _causal(qb: torch.Tensor, kb: torch.Tensor, k_log: torch.Tensor, v1: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Chunked scan. Key j enters with reference M_j = max_{j' ≤ j} log-scale; query i rescales
    every earlier contribution to its own M_i by exp(M_j − M_i) ≤ 1, so nothing overflows."""
    length, features, width = qb.shape[-2], qb.shape[-1], v1.shape[-1]
    batch = qb.shape[:-2]
    state = qb.new_zeros(*batch, features, width)
    ref_prev = qb.new_full(batch, float("-inf"))
    tril = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=qb.device).tril()
    outputs = []
    for start in range(0, length, chunk_size):
        stop = min(start + chunk_size, length)
        q_c, k_c, v_c = qb[..., start:stop, :], kb[..., start:stop, :], v1[..., start:stop, :]
        log_c = k_log[..., start:stop]
        ref = torch.maximum(torch.cummax(log_c.detach(), dim=-1).values, ref_prev.unsqueeze(-1))
        kf = k_c * _exp_gap(log_c, ref).unsqueeze(-1)
        size = stop - start
        decay = _exp_gap(ref.unsqueeze(-2), ref.unsqueeze(-1)).masked_fill(~tril[:size, :size], 0.0)
        carried = (q_c @ state) * _exp_gap(ref_prev.unsqueeze(-1), ref).unsqueeze(-1)
        outputs.append(((q_c @ kf.transpose(-2, -1)) * decay) @ v_c + carried)
        ref_end = ref[..., -1]
        to_end = kf * _exp_gap(ref, ref_end.unsqueeze(-1)).unsqueeze(-1)
        state = state * _exp_gap(ref_prev, ref_end)[..., None, None] + to_end.transpose(-2, -1) @ v_c
        ref_prev = ref_end
    return torch.cat(outputs, dim=-2)


def favor_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    kind: str = "positive",
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
    chunk_size: int = 128,
    gerf_a: float | str = 0.0,
    backend: str = "auto",
) -> torch.Tensor:
    """FAVOR attention estimate of softmax(q kᵀ/√d) v.

    Args:
        q: ``[..., Lq, d]``; k: ``[..., Lk, d]``; v: ``[..., Lk, dv]`` (one floating dtype).
        projection: ``[m, d]`` random projection (see :mod:`favor.projections`).
        kind: ``"positive"`` (FAVOR+), ``"hyperbolic"``, ``"trigonometric"`` or ``"gerf"``.
        causal: query i attends to keys j ≤ i (needs Lq == Lk).
        key_mask: ``[..., Lk]`` bool, True where the key takes part; the result equals running on
            the sequence with the masked keys removed. A query with no key left gets NaN (0/0),
            as exact softmax attention does.
        chunk_size: block length of the causal scan; the result does not depend on it.
        gerf_a: GERF parameter A (``kind="gerf"``), or ``"optimal"`` for the data-dependent A*
            of MATH 23 — bidirectional only: computed from the whole sequence it would let
            future tokens change past outputs.
        backend: ``"torch"`` (this function's code), ``"triton"`` (the fused kernels of
            :mod:`favor.triton_attention`: positive features; bf16 inputs multiply bf16 tiles
            on tensor cores) or ``"auto"``: Triton on CUDA where it applies, else torch
            (:mod:`favor.backend`).

    Returns: ``[..., Lq, dv]`` in the dtype of q (fp16/bf16 are computed in fp32 by the torch backend).
    """
    check_attention_inputs(q, k, v, projection, causal=causal, key_mask=key_mask, chunk_size=chunk_size)
    if choose_backend(backend, q, projection, kind=kind) == "triton":
        from favor.triton_attention import triton_favor_attention

        return triton_favor_attention(q, k, v, projection, causal=causal, key_mask=key_mask, chunk_size=chunk_size)
    out_dtype = q.dtype
    length_q, width_v = q.shape[-2], v.shape[-1]
    if length_q == 0:
        return q.new_zeros(*q.shape[:-1], width_v)
    work = compute_dtype(q.dtype)
    keep = key_mask if key_mask is not None else torch.ones(k.shape[:-1], dtype=torch.bool, device=k.device)
    poison = _poison(q, k, v, keep, causal)
    scale = q.shape[-1] ** -0.25
    q_t, k_t, v_w = (_sanitize(x.to(work)) for x in (q, k, v))
    q_t, k_t = q_t * scale, k_t * scale
    w = projection.to(work)
    if kind == "gerf" and gerf_a == "optimal":
        if causal:
            raise ValueError(
                "gerf_a='optimal' uses statistics of the whole sequence and would leak future "
                "tokens into causal outputs; pass a fixed float A for causal attention"
            )
        gerf_a = optimal_gerf_parameter(q_t, k_t, key_mask=key_mask)[..., None, None]
    elif isinstance(gerf_a, str):
        raise ValueError(f"gerf_a must be a float or 'optimal', got {gerf_a!r}")
    qb, _ = split_features(q_t, w, kind=kind, gerf_a=gerf_a)
    kb, k_log = split_features(k_t, w, kind=kind, gerf_a=gerf_a)
    k_log = k_log.masked_fill(~keep, float("-inf"))
    v1 = torch.cat([v_w, torch.ones_like(v_w[..., :1])], dim=-1)
    if causal:
        num = _causal(qb, kb, k_log, v1, chunk_size)
    else:
        num = _bidirectional(qb, kb, k_log, v1)
    out = num[..., :width_v] / num[..., width_v:]
    out = out.masked_fill(poison, math.nan)
    return out.to(out_dtype)
