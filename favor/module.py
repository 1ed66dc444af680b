"""``FavorAttention``: the attention function with its projection held as a buffer."""

from __future__ import annotations

import torch
from torch import nn

from favor.attention import favor_attention
from favor.backend import BACKENDS
from favor.features import FEATURE_KINDS
from favor.projections import Norms, draw_projection

__all__ = ["FavorAttention"]


class FavorAttention(nn.Module):
    """FAVOR attention over ``[..., L, d]`` inputs with m random features.

    The projection ω ∈ ℝ^{m×d} is a buffer (saved in the state dict, moved by ``.to``). It is
    drawn from a ``torch.Generator`` seeded with ``seed`` and redrawn according to ``redraw``:
    ``"never"``, ``"every_call"``, or an int N (every N-th forward call in training mode;
    [P] §4 redraws periodically). ``orthogonal`` and ``norms`` choose the law (MATH 10, 13).
    ``backend`` is passed to :func:`favor.favor_attention` (``"auto"``: Triton on CUDA where it
    applies, the PyTorch code elsewhere).
    """

    projection: torch.Tensor

    def __init__(
        self,
        d: int,
        m: int,
        *,
        kind: str = "positive",
        orthogonal: bool = True,
        norms: Norms = "chi",
        causal: bool = False,
        redraw: str | int = "never",
        seed: int = 0,
        chunk_size: int = 128,
        gerf_a: float | str = 0.0,
        backend: str = "auto",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")
        if not (redraw in ("never", "every_call") or (isinstance(redraw, int) and redraw >= 1)):
            raise ValueError(f"redraw must be 'never', 'every_call' or an int >= 1, got {redraw!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.d, self.m, self.kind, self.causal = d, m, kind, causal
        self.orthogonal, self.norms, self.redraw = orthogonal, norms, redraw
        self.chunk_size, self.gerf_a, self.backend = chunk_size, gerf_a, backend
        self.generator = torch.Generator().manual_seed(seed)
        self.calls = 0
        self.register_buffer("projection", self._draw(dtype, device))

    def _draw(self, dtype: torch.dtype, device: torch.device | str | None) -> torch.Tensor:
        return draw_projection(
            self.m,
            self.d,
            generator=self.generator,
            orthogonal=self.orthogonal,
            norms=self.norms,
            dtype=dtype,
            device=device,
        )

    @torch.no_grad()
    def redraw_projection(self) -> None:
        """Draw a fresh projection from the module's generator, in place."""
        self.projection.copy_(self._draw(self.projection.dtype, self.projection.device))

    def _due(self) -> bool:
        if self.redraw == "never" or not self.training:
            return False
        if self.redraw == "every_call":
            return True
        return self.calls > 0 and self.calls % self.redraw == 0

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """q: ``[..., L, d]``, k: ``[..., L, d]``, v: ``[..., L, dv]`` → ``[..., L, dv]``."""
        if self._due():
            self.redraw_projection()
        self.calls += 1
        return favor_attention(
            q,
            k,
            v,
            self.projection,
            kind=self.kind,
            causal=self.causal,
            key_mask=key_mask,
            chunk_size=self.chunk_size,
            gerf_a=self.gerf_a,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, m={self.m}, kind={self.kind!r}, orthogonal={self.orthogonal}, "
            f"norms={self.norms!r}, causal={self.causal}, redraw={self.redraw!r}, backend={self.backend!r}"
        )
