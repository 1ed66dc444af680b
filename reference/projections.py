"""Suite-owned random projections ω_1 … ω_m ∈ ℝ^d in float64 (MATH 10, 42).

The suite draws projections itself when an implementation under test offers a feature map but no
sampler, and the reference self-tests draw every Monte-Carlo projection here. Every draw comes
from an explicit ``torch.Generator`` (on its device), so a projection is a pure function of the
arguments and the generator state. ``batch`` prepends independent replicates: ``[*batch, m, d]``.

Sources: [P] Choromanski et al. 2021, App. B.2; [M] Mezzadri, math-ph/0609050.
"""

from __future__ import annotations

import math

import torch

__all__ = ["block_sizes", "haar_orthogonal", "iid_gaussian", "same_block_pairs"]

F64 = torch.float64


def block_sizes(m: int, d: int) -> list[int]:
    """Rows per orthogonal block: ⌈m/d⌉ blocks of consecutive rows, all of d rows but the last,
    which holds the remaining m − d·⌊m/d⌋ when that is not 0. (MATH 10)"""
    full, rest = divmod(m, d)
    return [d] * full + ([rest] if rest else [])


def same_block_pairs(m: int, d: int) -> int:
    """P = Σ_b n_b(n_b − 1): ordered pairs of distinct rows sharing a block. P ≤ m(d − 1), with
    m(d − 1) − P = Σ_b n_b(d − n_b) ≥ 0. (MATH 12, 32)"""
    return sum(n * (n - 1) for n in block_sizes(m, d))


def iid_gaussian(m: int, d: int, generator: torch.Generator, *, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """ω_r ~ N(0, I_d) independently: ``[*batch, m, d]`` float64. (MATH 3, [P Lemma 1])"""
    return torch.randn(*batch, m, d, generator=generator, dtype=F64, device=generator.device)


def haar_orthogonal(
    m: int, d: int, generator: torch.Generator, norms: str = "chi", *, batch: tuple[int, ...] = ()
) -> torch.Tensor:
    """Block-orthogonal rows ω_r = ρ_r u_r: ``[*batch, m, d]`` float64. (MATH 10, [P App. B.2], [M])

    Per block, G ∈ ℝ^{d×c} standard Gaussian (c = min(m, d) columns), G = QR and
    Q ← Q·diag(sign(diag R)): the columns of Q are then the first c columns of a Haar-distributed
    orthogonal matrix [M]; the block's n_b ≤ c rows u_r are its first n_b columns. Blocks are
    independent; the rows of a block are consecutive (``block_sizes``).

    norms="chi": ρ_r = ‖g_r‖ for fresh Gaussian rows g_r ∈ ℝ^d, so ρ_r ~ χ_d independently of the
    directions and every ω_r is exactly N(0, I_d) (MATH 5). norms="fixed": ρ_r = √d, the
    regularized variant whose positive estimator is biased (MATH 13).
    """
    if norms not in ("chi", "fixed"):
        raise ValueError(f"norms must be 'chi' or 'fixed', got {norms!r}")
    blocks, columns = -(-m // d), min(m, d)
    gaussian = torch.randn(*batch, blocks, d, columns, generator=generator, dtype=F64, device=generator.device)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    rows = (q * signs.unsqueeze(-2)).transpose(-2, -1).reshape(*batch, blocks * columns, d)[..., :m, :]
    if norms == "chi":
        radii = iid_gaussian(m, d, generator, batch=batch).norm(dim=-1)
    else:
        radii = torch.full((*batch, m), math.sqrt(d), dtype=F64, device=generator.device)
    return rows * radii.unsqueeze(-1)
