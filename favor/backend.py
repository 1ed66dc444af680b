"""Which code computes :func:`favor.favor_attention`: the PyTorch reference or the Triton kernels.

``backend="torch"`` always runs the PyTorch code; ``"triton"`` runs :mod:`favor.triton_attention`
or raises a ``ValueError`` saying why it cannot; ``"auto"`` takes Triton only on CUDA tensors, for
the cases the kernels support and the launch table has registers for (m ≤ 512, d ≤ 128), in fp32,
bf16 or fp16 (fp64 runs on the kernels only when asked), so CPU behaviour never changes. Triton is
imported only when it is chosen (the ``[gpu]`` extra).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import torch

__all__ = ["AUTO_DTYPES", "BACKENDS", "choose_backend"]

BACKENDS: tuple[str, ...] = ("auto", "torch", "triton")
AUTO_DTYPES: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16, torch.float16)
AUTO_MAX_M = 512
AUTO_MAX_D = 128


@cache
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def _triton_problem(q: torch.Tensor, kind: str) -> str | None:
    """Why the Triton kernels cannot run this call, or None."""
    if kind != "positive":
        return f"the Triton kernels compute positive features (FAVOR+) only, got kind={kind!r}"
    if not _triton_installed():
        return "Triton is not installed (pip install 'favor-suite[gpu]')"
    if q.device.type != "cuda" and not (q.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"):
        return f"the Triton kernels run on CUDA tensors, or on CPU with TRITON_INTERPRET=1; got device {q.device}"
    return None


def choose_backend(backend: str, q: torch.Tensor, projection: torch.Tensor, *, kind: str) -> str:
    """``"torch"`` or ``"triton"`` for a call with these (validated) inputs."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch" or (backend == "auto" and q.device.type != "cuda"):
        return "torch"
    problem = _triton_problem(q, kind)
    if backend == "triton":
        if problem:
            raise ValueError(f"backend='triton' cannot run this call: {problem}")
        return "triton"
    fits = projection.shape[0] <= AUTO_MAX_M and q.shape[-1] <= AUTO_MAX_D and q.dtype in AUTO_DTYPES
    return "triton" if problem is None and fits else "torch"
