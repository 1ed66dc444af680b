"""This project's favor on its Triton backend (``favor_attention(..., backend="triton")``).

Positive features only. bf16 inputs multiply bf16 tiles on tensor cores and accumulate in fp32;
fp32 and fp16 inputs compute in fp32, fp64 in fp64 (:data:`favor.triton_attention.PRODUCTS`). The
backward pass recomputes through the PyTorch path.

On CUDA tensors the kernels are compiled; on CPU tensors they run under Triton's interpreter, which
must be on before Triton is first imported: on a machine without CUDA this module sets
``TRITON_INTERPRET=1`` unless it is already set. Gate it with
``pytest --pyargs favor_suite --favor-impl=favor_suite.adapters.favor_triton`` (add
``--favor-device cuda`` on a GPU).
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import favor
from favor.triton_attention import PRODUCTS
from favor.validation import compute_dtype
from favor_suite.adapters.favor_impl import sample_projection
from favor_suite.implementation import Implementation, Precision


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    kind: str = "positive",
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
    chunk_size: int = 128,
) -> torch.Tensor:
    """:func:`favor.favor_attention` with ``backend="triton"``."""
    return favor.favor_attention(
        q, k, v, projection, kind=kind, causal=causal, key_mask=key_mask, chunk_size=chunk_size, backend="triton"
    )


IMPLEMENTATION = Implementation(
    name="favor-triton",
    sample_projection=sample_projection,
    feature_map=favor.feature_map,
    attention=attention,
    feature_kinds=("positive",),
    chunk_option="chunk_size",
    compute_precision={dtype: Precision(PRODUCTS[dtype], compute_dtype(dtype)) for dtype in PRODUCTS},
    flop_countable=False,  # FlopCounterMode sees aten ops only, not the kernels' matmuls
    max_length=None if torch.cuda.is_available() else 512,  # the CPU interpreter: ~3 s a call at L = 4096
)
