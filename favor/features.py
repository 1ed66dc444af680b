"""Random-feature maps φ with E[φ(x)ᵀφ(y)] = SM(x, y) = exp(xᵀy).

Each map is returned in *split* form ``φ(x) = base · exp(log_scale)``: ``base`` has entries of
magnitude ≤ 1 and ``log_scale`` is one number per row. Attention divides the per-row scale out of
the queries and a shared reference out of the keys; both cancel exactly in the output (MATH 19),
so stabilization never biases the estimator. The plain maps (``positive_features`` …) multiply the
two parts back together.

x: ``[..., L, d]`` (already scaled by d^(-1/4) when used for attention), w: ``[m, d]``.
Sources: [P] Choromanski et al. 2021, §2.3 and Lemma 1; [CRT] Likhosherstov et al. 2022.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch

FeatureKind = Literal["positive", "hyperbolic", "trigonometric", "gerf"]
FEATURE_KINDS: tuple[str, ...] = ("positive", "hyperbolic", "trigonometric", "gerf")

__all__ = [
    "FEATURE_KINDS",
    "FeatureKind",
    "SplitFeatures",
    "feature_map",
    "gerf_admissible",
    "gerf_features",
    "hyperbolic_features",
    "num_features",
    "positive_features",
    "split_features",
    "trigonometric_features",
]


class SplitFeatures(NamedTuple):
    """φ(x) = base · exp(log_scale[..., None]); |base| ≤ 1."""

    base: torch.Tensor
    log_scale: torch.Tensor


def num_features(kind: str, m: int) -> int:
    """Width of φ(x) for m projection rows: 2m for hyperbolic and trigonometric, else m."""
    return 2 * m if kind in ("hyperbolic", "trigonometric") else m


def _exp_normalized(logits: torch.Tensor) -> SplitFeatures:
    """exp(logits) split as exp(logits − c)·exp(c), c = max over features, detached.

    c is a constant that cancels wherever it is used (MATH 19), so detaching it leaves every
    gradient exact while keeping autograd away from the max's subgradient.
    """
    c = logits.amax(dim=-1).detach()
    return SplitFeatures(torch.exp(logits - c.unsqueeze(-1)), c)


def _projections(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x @ w.transpose(-2, -1)


def _half_sq_norm(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x.square().sum(dim=-1, keepdim=True)


def _positive(x: torch.Tensor, w: torch.Tensor) -> SplitFeatures:
    """φ⁺(x) = exp(−‖x‖²/2)/√m · [exp(ω_rᵀx)]_r. (MATH 3, [P Lemma 1])"""
    m = w.shape[0]
    return _exp_normalized(_projections(x, w) - _half_sq_norm(x) - 0.5 * math.log(m))


def _hyperbolic(x: torch.Tensor, w: torch.Tensor) -> SplitFeatures:
    """φ^hyp(x) = exp(−‖x‖²/2)/√(2m) · [exp(ω_rᵀx), exp(−ω_rᵀx)]_r. (MATH 4, [P Lemma 1])"""
    m = w.shape[0]
    p = _projections(x, w)
    shift = _half_sq_norm(x) + 0.5 * math.log(2 * m)
    return _exp_normalized(torch.cat([p - shift, -p - shift], dim=-1))


def _trigonometric(x: torch.Tensor, w: torch.Tensor) -> SplitFeatures:
    """φ^trig(x) = exp(‖x‖²/2)/√m · [sin ω_rᵀx, cos ω_rᵀx]_r. (MATH 2, [P §2.3])"""
    m = w.shape[0]
    p = _projections(x, w)
    base = torch.cat([torch.sin(p), torch.cos(p)], dim=-1) / math.sqrt(m)
    return SplitFeatures(base, _half_sq_norm(x).squeeze(-1))


def gerf_admissible(a: float | torch.Tensor) -> None:
    """Raise unless 1 − 8A > 0, the condition for a finite second moment (MATH 21, [CRT])."""
    a_t = torch.as_tensor(a, dtype=torch.float64) if not torch.is_tensor(a) else a.double()
    if not bool((torch.isfinite(a_t) & (1.0 - 8.0 * a_t > 0.0)).all()):
        raise ValueError(f"GERF parameter A must satisfy 1 - 8A > 0 (A < 1/8), got A = {a}")


def _gerf(x: torch.Tensor, w: torch.Tensor, a: float | torch.Tensor) -> SplitFeatures:
    """f(ω, x) = D·exp(A‖ω‖² + B ωᵀx − ‖x‖²/2), B = √(1−4A), D = (1−4A)^(d/4). (MATH 21, [CRT])

    Positive-branch generalized exponential random features; A = 0 is exactly φ⁺. A is a float
    or a tensor broadcasting against ``[..., 1, 1]`` (one A per batch element).
    """
    gerf_admissible(a)
    m, d = w.shape
    a_t = torch.as_tensor(a, dtype=x.dtype, device=x.device)
    b = torch.sqrt(1.0 - 4.0 * a_t)
    log_d = 0.25 * d * torch.log1p(-4.0 * a_t)
    logits = a_t * w.square().sum(dim=-1) + b * _projections(x, w) - _half_sq_norm(x) + (log_d - 0.5 * math.log(m))
    return _exp_normalized(logits)


def split_features(
    x: torch.Tensor, w: torch.Tensor, *, kind: str = "positive", gerf_a: float | torch.Tensor = 0.0
) -> SplitFeatures:
    """The feature map ``kind`` of x under projection w, in split form (see module docstring)."""
    if kind == "positive":
        return _positive(x, w)
    if kind == "hyperbolic":
        return _hyperbolic(x, w)
    if kind == "trigonometric":
        return _trigonometric(x, w)
    if kind == "gerf":
        return _gerf(x, w, gerf_a)
    raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")


def feature_map(
    x: torch.Tensor, w: torch.Tensor, *, kind: str = "positive", gerf_a: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """φ(x) itself, ``[..., L, num_features(kind, m)]``."""
    base, log_scale = split_features(x, w, kind=kind, gerf_a=gerf_a)
    return base * torch.exp(log_scale).unsqueeze(-1)


def positive_features(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """φ⁺(x) (MATH 3)."""
    return feature_map(x, w, kind="positive")


def hyperbolic_features(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """φ^hyp(x) (MATH 4)."""
    return feature_map(x, w, kind="hyperbolic")


def trigonometric_features(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """φ^trig(x) (MATH 2)."""
    return feature_map(x, w, kind="trigonometric")


def gerf_features(x: torch.Tensor, w: torch.Tensor, a: float) -> torch.Tensor:
    """GERF features f(ω, x) with parameter A (MATH 21)."""
    return feature_map(x, w, kind="gerf", gerf_a=a)
