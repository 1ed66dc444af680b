"""Shared pieces of the attention properties: calling the implementation, and the quadratic
computation on its own features with the rounding allowance that comes with it."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from properties import strategies as hh
from properties.implementation import Implementation
from reference.rounding import compute_roundoff, ratio_of_sums_bound, unit_roundoff
from reference.softmax import allowed_pairs, feature_attention

__all__ = ["call", "chunk_sizes", "draw_problem", "gaussian_projection", "quadratic_on_same_features", "scaled"]


def scaled(x: torch.Tensor) -> torch.Tensor:
    """x̃ = d^(-1/4)·x (MATH 1)."""
    return x * x.shape[-1] ** -0.25


def gaussian_projection(m: int, d: int, gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """iid N(0, I_d) rows drawn by the suite, so attention properties do not lean on the
    implementation's sampler."""
    return torch.randn(m, d, generator=gen, dtype=torch.float64, device=gen.device).to(dtype)


def chunk_sizes(impl: Implementation) -> st.SearchStrategy[dict[str, int]]:
    """Keyword arguments that set the implementation's block length (empty if it has none)."""
    if not impl.chunk_option:
        return st.just({})
    return st.one_of(st.just({}), st.integers(1, 48).map(lambda c: {impl.chunk_option: c}))


def call(
    impl: Implementation, q, k, v, w, *, kind: str = "positive", causal: bool = False, key_mask=None, **options
) -> torch.Tensor:
    return impl.attention(q, k, v, w, kind=kind, causal=causal, key_mask=key_mask, **options)


def quadratic_on_same_features(
    impl: Implementation,
    q,
    k,
    v,
    w,
    *,
    kind: str = "positive",
    causal: bool = False,
    key_mask=None,
    dtype: torch.dtype = torch.float64,
    **feature_options: object,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Ŷ, allowance): the O(L²) float64 computation D̂⁻¹ÂV on φ from ``feature_map`` (MATH 17),
    and the elementwise rounding allowance for an implementation computing in ``dtype``
    (:func:`reference.rounding.ratio_of_sums_bound`, plus the final rounding to ``dtype``).
    ``feature_options`` go to ``feature_map`` (e.g. ``gerf_a``)."""
    q64, k64, v64, w64 = (x.detach().double() for x in (q, k, v, w))
    qf = impl.feature_map(scaled(q64), w64, kind=kind, **feature_options).double()
    kf = impl.feature_map(scaled(k64), w64, kind=kind, **feature_options).double()
    y = feature_attention(qf, kf, v64, causal=causal, key_mask=key_mask)
    scores = (qf @ kf.transpose(-2, -1)).masked_fill(
        ~allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=qf.device), 0.0
    )
    magnitude = (scores.abs() @ v64.abs()) / scores.sum(-1, keepdim=True).abs()
    norms = scaled(q64).norm(dim=-1).amax() + scaled(k64).norm(dim=-1).amax()
    exponent = float(w64.norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[0]))
    terms = q.shape[-1] + qf.shape[-1] + k.shape[-2]
    allowance = ratio_of_sums_bound(terms, exponent, compute_roundoff(dtype)) * magnitude
    if dtype != torch.float64:
        allowance = allowance + unit_roundoff(dtype) * y.abs()
    return y, allowance


def draw_problem(
    data,
    impl: Implementation,
    device,
    *,
    max_len: int = 40,
    min_len: int = 1,
    max_m: int = 64,
    kinds: tuple[str, ...] | None = None,
    max_norm: tuple[float, float] = (0.05, 1.0),
):
    """(sequences, projection, kind) for an attention property."""
    seq = data.draw(hh.sequences(device=device, max_len=max_len, min_len=min_len, max_norm=max_norm), label="inputs")
    m = data.draw(st.integers(1, max_m), label="m")
    kind = data.draw(st.sampled_from(kinds or impl.feature_kinds), label="kind")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device))
    return seq, w, kind
