"""The gradient allowance (MATH 43g) where a signed normalizer cancels: trigonometric features of
one query against two keys whose terms cancel to D̂ = δ while Σ|terms| stays O(1), so the condition
κ = Σ|â|/|D̂| grows like 1/δ and gradients like 1/δ². A thorough run met this regime (dq of 2e7 off
by 3.3e-5 in float64 against an allowance of 4.9e-6 that ignored κ); here it is built on purpose."""

from __future__ import annotations

import math

import pytest
import torch

from favor_suite.attention_cases import call, gradients_on_same_features
from favor_suite.implementation import load_implementation, precision_of

QUERY = 0.3
FIRST_KEY = QUERY - 0.5


def _cancelling_problem(delta: float) -> tuple[torch.Tensor, ...]:
    """d = m = 1, ω = 1: D̂_0 = Σ_j e^{k_j²/2}·cos(q_0 − k_j) (the sin·sin + cos·cos feature product);
    the second key is found by bisection so that D̂_0 = δ."""

    def normalizer(key: float) -> float:
        return math.exp(key * key / 2) * math.cos(QUERY - key) + math.exp(FIRST_KEY**2 / 2) * math.cos(
            QUERY - FIRST_KEY
        )

    low, high = QUERY + math.pi / 2, QUERY + math.pi
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if normalizer(middle) > delta else (low, middle)
    q = torch.tensor([[[QUERY], [QUERY + 0.2]]], dtype=torch.float64)
    k = torch.tensor([[[FIRST_KEY], [low]]], dtype=torch.float64)
    v = torch.tensor([[[1.0], [-0.5]]], dtype=torch.float64)
    return q, k, v, torch.ones(1, 1, dtype=torch.float64)


@pytest.mark.parametrize(
    ("dtype", "delta"),
    [(torch.float32, 1e-2), (torch.float32, 1e-3), (torch.float64, 1e-4), (torch.float64, 1e-7)],
)
def test_gradient_allowance_holds_where_the_normalizer_cancels(dtype, delta):
    """favor's gradients stay within the allowance, which is *finite* here (ε_fwd·κ < 1: the
    quotient is determined by the precision), on a row whose condition is what it claims."""
    impl = load_implementation()
    q, k, v, w = _cancelling_problem(delta)
    leaves = [x.to(dtype).requires_grad_(True) for x in (q, k, v)]
    cotangent = torch.ones_like(leaves[2])
    grads = torch.autograd.grad(call(impl, *leaves, w.to(dtype), kind="trigonometric"), leaves, cotangent)
    reference, allowances = gradients_on_same_features(
        impl,
        *leaves,
        w.to(dtype),
        cotangent,
        kind="trigonometric",
        precision=precision_of(impl, dtype),
        out_dtype=dtype,
    )
    features = impl.feature_map(q[0, :1], w, kind="trigonometric") @ impl.feature_map(k[0], w, kind="trigonometric").T
    condition = features.abs().sum() / features.sum().abs()
    # each key's term has magnitude ≈ e^{0.02}·cos 0.5 ≈ 0.9 and they sum to δ·e^{q²/2}: κ ≥ 1/δ
    assert condition >= 1 / delta
    for name, got, expected, allowance in zip("qkv", grads, reference, allowances, strict=True):
        assert torch.isfinite(allowance).all(), f"d{name}: allowance not finite although ε·κ < 1"
        error = (got.double() - expected).abs()
        assert (error <= allowance).all(), f"d{name}: error {error.max():.3e} beyond allowance {allowance.max():.3e}"
