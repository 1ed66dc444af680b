"""Random projections ω_1 … ω_m ∈ ℝ^d for the random-feature maps.

Every draw comes from an explicit ``torch.Generator``; the global RNG is never touched, so a
projection is a pure function of (m, d, generator state).

Sources: [P] Choromanski et al., *Rethinking Attention with Performers*, ICLR 2021, §2.4 and
App. B.2; [M] Mezzadri, *How to generate random matrices from the classical compact groups*.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

Norms = Literal["chi", "fixed"]

__all__ = ["Norms", "draw_projection", "iid_gaussian", "orthogonal_gaussian"]


def _sampling_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision projections are drawn in float32 (QR has no half kernels) and cast after."""
    return torch.promote_types(dtype, torch.float32)


def _check_size(m: int, d: int) -> None:
    for name, value in (("m", m), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def iid_gaussian(
    m: int,
    d: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """ω_r ~ N(0, I_d) independently; returns ``[m, d]``. [P Lemma 1]"""
    _check_size(m, d)
    w = torch.randn(m, d, generator=generator, dtype=_sampling_dtype(dtype), device=generator.device)
    return w.to(dtype=dtype, device=device)


def orthogonal_gaussian(
    m: int,
    d: int,
    *,
    generator: torch.Generator,
    norms: Norms = "chi",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Block-orthogonal random features; returns ``[m, d]``. (MATH 10, [P App. B.2])

    Rows come in ⌈m/d⌉ independent blocks of at most d rows. Per block a Gaussian G ∈ ℝ^{d×d} is
    factored G = QR and Q ← Q·diag(sign(diag R)), which makes Q Haar-distributed on O(d) [M];
    the first n_b columns of Q are the block's directions u_r, exactly orthonormal.

    ``norms="chi"``: ρ_r ~ χ_d independently, so every ω_r = ρ_r u_r is exactly N(0, I_d)
    marginally and the kernel estimators stay unbiased (MATH 5).
    ``norms="fixed"``: ρ_r = √d (the "regularized" variant). This is *biased*: the positive
    estimator's mean is SMREG = Λ·₀F₁(; d/2; d·s/4), not SM (MATH 13, [P Thm 1]).
    """
    _check_size(m, d)
    if norms not in ("chi", "fixed"):
        raise ValueError(f"norms must be 'chi' or 'fixed', got {norms!r}")
    work = _sampling_dtype(dtype)
    blocks = math.ceil(m / d)
    gaussian = torch.randn(blocks, d, d, generator=generator, dtype=work, device=generator.device)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    haar = q * signs.unsqueeze(-2)
    directions = haar.transpose(-2, -1).reshape(blocks * d, d)[:m]
    if norms == "chi":
        radii = torch.randn(m, d, generator=generator, dtype=work, device=generator.device).norm(dim=-1)
    else:
        radii = torch.full((m,), math.sqrt(d), dtype=work, device=generator.device)
    return (directions * radii.unsqueeze(-1)).to(dtype=dtype, device=device)


def draw_projection(
    m: int,
    d: int,
    *,
    generator: torch.Generator,
    orthogonal: bool = True,
    norms: Norms = "chi",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Dispatch to :func:`orthogonal_gaussian` or :func:`iid_gaussian` (``norms`` applies to ORF)."""
    if orthogonal:
        return orthogonal_gaussian(m, d, generator=generator, norms=norms, dtype=dtype, device=device)
    if norms != "chi":
        raise ValueError("fixed norms are only defined for orthogonal projections")
    return iid_gaussian(m, d, generator=generator, dtype=dtype, device=device)
