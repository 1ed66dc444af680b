"""Input checks for the attention entry points: a clear error, never a silent wrong number."""

from __future__ import annotations

import torch

FLOATING = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

__all__ = ["FLOATING", "check_attention_inputs", "compute_dtype"]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp64/fp32 compute in their own precision; fp16/bf16 accumulate in fp32."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _tensor(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_attention_inputs(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    causal: bool,
    key_mask: torch.Tensor | None,
    chunk_size: int,
) -> None:
    """Validate shapes ``q: [..., Lq, d]``, ``k: [..., Lk, d]``, ``v: [..., Lk, dv]``,
    ``projection: [m, d]``, ``key_mask: [..., Lk]`` (bool, True = the key takes part)."""
    for name, x in (("q", q), ("k", k), ("v", v), ("projection", projection)):
        _tensor(name, x)
        if x.dtype not in FLOATING:
            raise TypeError(f"{name} must have a floating dtype {FLOATING}, got {x.dtype}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape [..., L, width], got {tuple(x.shape)}")
    if projection.dim() != 2:
        raise ValueError(f"projection must have shape [m, d], got {tuple(projection.shape)}")
    devices = {name: x.device for name, x in (("q", q), ("k", k), ("v", v), ("projection", projection))}
    if key_mask is not None:
        devices["key_mask"] = _tensor("key_mask", key_mask).device
    if len(set(devices.values())) > 1:
        raise ValueError(f"all inputs must be on one device, got {devices}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q has width {q.shape[-1]} but k has width {k.shape[-1]}")
    if projection.shape[0] < 1:
        raise ValueError(f"projection must have m >= 1 rows, got shape {tuple(projection.shape)}")
    if projection.shape[1] != q.shape[-1]:
        raise ValueError(f"projection has width {projection.shape[1]} but q and k have width {q.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k has length {k.shape[-2]} but v has length {v.shape[-2]}")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(
            "q, k and v must share their leading (batch, head) dims, got "
            f"{tuple(q.shape[:-2])}, {tuple(k.shape[:-2])}, {tuple(v.shape[:-2])}"
        )
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal attention needs len(q) == len(k), got {q.shape[-2]} and {k.shape[-2]}")
    if k.shape[-2] == 0 and q.shape[-2] > 0:
        raise ValueError("k and v are empty (length 0) but q is not: there is nothing to attend to")
    if key_mask is not None:
        if key_mask.dtype != torch.bool:
            raise TypeError(f"key_mask must be a bool tensor (True = keep), got {key_mask.dtype}")
        if key_mask.shape != k.shape[:-1]:
            raise ValueError(
                f"key_mask must have shape {tuple(k.shape[:-1])} (k without its width), got {tuple(key_mask.shape)}"
            )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
