"""This project's own API beyond the protocol: ``FavorAttention`` and issue 2's acceptance line
"in float64 the linear-time attention equals the quadratic computation on the same features to
1e-12 relative, bidirectional and causal, for any chunk size"."""

from __future__ import annotations

import itertools
import os

import pytest
import torch

import favor
from favor_suite.reference.softmax import feature_attention


def _inputs(seed: int = 0, length: int = 100, d: int = 16):
    g = torch.Generator().manual_seed(seed)
    q, k = (0.7 * torch.randn(2, 3, length, d, generator=g, dtype=torch.float64) for _ in range(2))
    v = torch.randn(2, 3, length, 5, generator=g, dtype=torch.float64)
    return q, k, v, favor.draw_projection(64, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["positive", "hyperbolic", "trigonometric"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 128, 1000])
def test_linear_equals_quadratic_to_1e12_relative(kind, causal, chunk_size):
    q, k, v, w = _inputs()
    mask = torch.rand(q.shape[:-1], generator=torch.Generator().manual_seed(1)) < 0.8
    mask[..., 0] = True
    out = favor.favor_attention(q, k, v, w, kind=kind, causal=causal, key_mask=mask, chunk_size=chunk_size)
    scale = q.shape[-1] ** -0.25
    qf, kf = favor.feature_map(q * scale, w, kind=kind), favor.feature_map(k * scale, w, kind=kind)
    expected = feature_attention(qf, kf, v, causal=causal, key_mask=mask)
    relative = float((out - expected).norm() / expected.norm())
    assert relative <= 1e-12, f"relative Frobenius difference {relative:.2e} > 1e-12"


def test_redraw_policies():
    x = torch.randn(2, 5, 8)
    never = favor.FavorAttention(8, 16, redraw="never", seed=3)
    first = never.projection.clone()
    for _ in range(3):
        never(x, x, x)
    assert torch.equal(never.projection, first)

    every = favor.FavorAttention(8, 16, redraw="every_call", seed=3)
    assert torch.equal(every.projection, first), "the same seed must give the same first projection"
    every(x, x, x)
    assert not torch.equal(every.projection, first)

    third = favor.FavorAttention(8, 16, redraw=3, seed=3)
    seen = []
    for _ in range(7):
        third(x, x, x)
        seen.append(third.projection.clone())
    changed = [not torch.equal(a, b) for a, b in itertools.pairwise(seen)]
    assert changed == [False, False, True, False, False, True], changed

    third.eval()
    frozen = third.projection.clone()
    for _ in range(4):
        third(x, x, x)
    assert torch.equal(third.projection, frozen), "no redraw in eval mode"


def test_projection_is_a_buffer_that_moves_and_saves():
    module = favor.FavorAttention(8, 16, orthogonal=False, seed=1)
    assert "projection" in module.state_dict()
    module = module.to(torch.float64)
    assert module.projection.dtype == torch.float64
    x = torch.randn(1, 4, 8, dtype=torch.float64)
    assert module(x, x, x).dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"redraw": 0}, "redraw"),
        ({"redraw": "sometimes"}, "redraw"),
        ({"kind": "relu"}, "kind"),
        ({"backend": "cuda"}, "backend"),
    ],
)
def test_module_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        favor.FavorAttention(8, 16, **kwargs)


@pytest.mark.parametrize(("m", "d"), [(0, 4), (4, 0)])
def test_projection_sizes_must_be_positive(m, d):
    with pytest.raises(ValueError, match=r"\b[md]\b must be >= 1"):
        favor.draw_projection(m, d, generator=torch.Generator())


def test_module_passes_its_backend_on():
    """``backend="torch"`` gives favor_attention's torch result bit for bit; ``"triton"`` on a CPU
    tensor without the interpreter is refused by favor_attention, naming the backend."""
    module = favor.FavorAttention(8, 16, seed=2, backend="torch")
    x = torch.randn(2, 5, 8)
    expected = favor.favor_attention(x, x, x, module.projection, backend="torch")
    assert torch.equal(module(x, x, x), expected)
    assert "backend='torch'" in repr(module)
    if os.environ.get("TRITON_INTERPRET") != "1":
        with pytest.raises(ValueError, match="backend='triton'"):
            favor.FavorAttention(8, 16, backend="triton")(x, x, x)
