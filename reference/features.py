"""Naive float64 random-feature maps φ: the suite's own truth for what a feature map computes
(MATH 2-4, 21, 42).

x is taken "as given" (scale it by d^(−1/4) first for attention, MATH 1); w: ``[m, d]`` projection
rows, or ``[..., m, d]`` (independent replicates, broadcast against x's leading dims as ``x @ wᵀ``);
φ: ``[..., d] → [..., F]`` with F = ``feature_width(kind, m)``. Each map is computed
directly, without stabilizers, so φ(x)ᵀφ(y) is the estimator whose mean is SM(x, y) = e^{xᵀy}
(MATH 5). Layouts follow ``favor``: hyperbolic [e^{+ωᵀx}… | e^{−ωᵀx}…], trigonometric
[sin ωᵀx… | cos ωᵀx…].
"""

from __future__ import annotations

import math

import torch

__all__ = ["FEATURE_KINDS", "feature_map", "feature_width"]

FEATURE_KINDS = ("positive", "hyperbolic", "trigonometric", "gerf")


def feature_width(kind: str, m: int) -> int:
    """F for m projection rows: 2m for hyperbolic and trigonometric (two features per row), else m."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")
    return 2 * m if kind in ("hyperbolic", "trigonometric") else m


def feature_map(x: torch.Tensor, w: torch.Tensor, *, kind: str, gerf_a: float | None = None) -> torch.Tensor:
    """φ(x) ``[..., F]`` in float64, m = w.shape[0] rows, h = ‖x‖²/2, p_r = ω_rᵀx:

    positive       e^{p_r − h}/√m                                  (MATH 3)
    hyperbolic     [e^{p_r − h}, e^{−p_r − h}]/√(2m)                 (MATH 4)
    trigonometric  e^{h}·[sin p_r, cos p_r]/√m                       (MATH 2)
    gerf           (1−4A)^{d/4}·e^{A‖ω_r‖² + √(1−4A)·p_r − h}/√m      (MATH 21)

    GERF is defined (B = √(1 − 4A) real, E[φ(x)ᵀφ(y)] finite) for A < 1/4; its variance is finite
    only for A < 1/8 (MATH 36). ``gerf_a`` is required for gerf and refused otherwise.
    """
    feature_width(kind, w.shape[-2])  # validates kind
    if (kind == "gerf") != (gerf_a is not None):
        raise ValueError(f"gerf_a is required for kind='gerf' and only for it (kind={kind!r}, gerf_a={gerf_a})")
    x, w = x.double(), w.double()
    m, d = w.shape[-2:]
    p = x @ w.transpose(-2, -1)
    h = x.square().sum(-1, keepdim=True) / 2
    if kind == "positive":
        phi = torch.exp(p - h) / math.sqrt(m)
    elif kind == "hyperbolic":
        phi = torch.cat([torch.exp(p - h), torch.exp(-p - h)], dim=-1) / math.sqrt(2 * m)
    elif kind == "trigonometric":
        phi = torch.exp(h) * torch.cat([torch.sin(p), torch.cos(p)], dim=-1) / math.sqrt(m)
    else:
        if not gerf_a < 0.25:
            raise ValueError(f"GERF needs A < 1/4 (B = √(1 − 4A) real), got A = {gerf_a}")
        b, log_d = math.sqrt(1 - 4 * gerf_a), d / 4 * math.log1p(-4 * gerf_a)
        norms = w.square().sum(-1)  # [..., m], aligned with p's last dim (p has x's row dim when x.dim() > 1)
        norms = norms.unsqueeze(-2) if x.dim() > 1 else norms
        phi = torch.exp(gerf_a * norms + b * p - h + log_d) / math.sqrt(m)
    return phi
