"""Shared pieces of the attention properties: calling the implementation, drawing a problem, and the
quadratic computation on the implementation's own features with the rounding allowance that comes
with it."""

from __future__ import annotations

import math

import torch
from favor_suite import strategies as hh
from favor_suite.implementation import Implementation, precision_of
from favor_suite.reference.rounding import accumulation_roundoff, term_error, unit_roundoff
from favor_suite.reference.softmax import allowed_pairs, feature_attention, scaled
from hypothesis import strategies as st

__all__ = [
    "call",
    "chunk_sizes",
    "draw_mask",
    "draw_problem",
    "gaussian_projection",
    "quadratic_on_same_features",
]


def gaussian_projection(m: int, d: int, gen: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """iid N(0, I_d) rows drawn by the suite, so attention properties do not lean on the
    implementation's sampler."""
    return torch.randn(m, d, generator=gen, dtype=torch.float64, device=gen.device).to(dtype)


def chunk_sizes(impl: Implementation) -> st.SearchStrategy[dict[str, int]]:
    """Keyword arguments that set the implementation's block length (empty if it has none)."""
    if not impl.chunk_option:
        return st.just({})
    return st.one_of(st.just({}), st.integers(1, 48).map(lambda c: {impl.chunk_option: c}))


def draw_mask(data: st.DataObject, impl: Implementation, k: torch.Tensor, seed: int) -> torch.Tensor | None:
    """A random key mask ``[..., L]`` (True = keep) when the implementation declares ``key_mask``,
    else None (nothing is drawn)."""
    if not impl.key_mask or not data.draw(st.booleans(), label="masked"):
        return None
    keep = data.draw(st.floats(0.2, 1.0), label="keep_fraction")
    gen = hh.generator(seed + 2, k.device)
    return torch.rand(k.shape[:-1], generator=gen, device=k.device) < keep


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
    and the elementwise rounding allowance of an implementation whose inputs are ``dtype``, at the
    compute precision it declares for that dtype (``reference.rounding.term_error``, MATH
    "Rounding allowances"):

        |ΔŶ_ic| ≤ ε·(Σ_jf |φ_f(q̃_i)||φ_f(k̃_j)||v_jc| + |Ŷ_ic|·Σ_jf |φ_f(q̃_i)||φ_f(k̃_j)|)/|D̂_i| + u_out·|Ŷ_ic|

    (numerator and normalizer each within ε of their absolute sums; the quotient's first-order
    error; one final rounding to the output dtype). ``feature_options`` go to ``feature_map``."""
    q64, k64, v64, w64 = (x.detach().double() for x in (q, k, v, w))
    qf = impl.feature_map(scaled(q64), w64, kind=kind, **feature_options).double()
    kf = impl.feature_map(scaled(k64), w64, kind=kind, **feature_options).double()
    y = feature_attention(qf, kf, v64, causal=causal, key_mask=key_mask)
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=qf.device)
    absolute = (qf.abs() @ kf.abs().transpose(-2, -1)).masked_fill(~allowed, 0.0)
    normalizer = (qf @ kf.transpose(-2, -1)).masked_fill(~allowed, 0.0).sum(-1, keepdim=True).abs()
    magnitude = (absolute @ v64.abs() + y.abs().nan_to_num() * absolute.sum(-1, keepdim=True)) / normalizer
    norms = scaled(q64).norm(dim=-1).amax() + scaled(k64).norm(dim=-1).amax()
    exponent = float(w64.norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[0]))
    precision = precision_of(impl, dtype)
    epsilon = term_error(
        d=q.shape[-1],
        exponent=exponent,
        features=qf.shape[-1],
        length=k.shape[-2],
        products=unit_roundoff(precision.products),
        accumulation=accumulation_roundoff(precision.accumulation),
    )
    allowance = epsilon * magnitude + unit_roundoff(dtype) * y.abs()
    return y, allowance


def draw_problem(
    data: st.DataObject,
    device: torch.device,
    *,
    kind: str = "positive",
    max_len: int = 40,
    min_len: int = 1,
    max_m: int = 64,
    max_norm: tuple[float, float] = (0.05, 1.0),
) -> tuple[hh.Sequences, torch.Tensor]:
    """(sequences, projection) for an attention property: structured inputs and m ≤ ``max_m``
    iid Gaussian projection rows drawn by the suite. The feature ``kind`` is a case parameter of
    the test, resolved before drawing."""
    seq = data.draw(hh.sequences(device=device, max_len=max_len, min_len=min_len, max_norm=max_norm), label="inputs")
    m = data.draw(st.integers(1, max_m), label="m")
    w = gaussian_projection(m, seq.q.shape[-1], hh.generator(seq.seed + 1, device))
    return seq, w
