"""Shared pieces of the attention properties: calling the implementation, drawing a problem, and the
quadratic computation on the implementation's own features with the rounding allowance that comes
with it."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from favor_suite import strategies as hh
from favor_suite.implementation import Implementation, Precision, precision_of
from favor_suite.reference.rounding import (
    accumulation_roundoff,
    feature_error,
    gamma,
    quotient_allowance,
    quotient_amplification,
    term_error,
    underflow_error,
    unit_roundoff,
)
from favor_suite.reference.softmax import allowed_pairs, feature_attention, scaled

__all__ = [
    "call",
    "chunk_sizes",
    "draw_mask",
    "draw_problem",
    "gaussian_projection",
    "gradients_on_same_features",
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
    else None (nothing is drawn). Key 0 is always kept, so every query, causal ones included, keeps
    a key: attention over no key is undefined (0/0), and what an implementation returns for it is
    not a property of FAVOR."""
    if not impl.key_mask or not data.draw(st.booleans(), label="masked"):
        return None
    keep = data.draw(st.floats(0.2, 1.0), label="keep_fraction")
    gen = hh.generator(seed + 2, k.device)
    mask = torch.rand(k.shape[:-1], generator=gen, device=k.device) < keep
    mask[..., 0] = True
    return mask


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
    compute precision it declares for that dtype, plus that of the float64 reference itself
    (``reference.rounding.term_error``, MATH 43d):

        |ΔŶ_ic| ≤ ε·(Σ_jf |φ_f(q̃_i)||φ_f(k̃_j)||v_jc| + |Ŷ_ic|·Σ_jf |φ_f(q̃_i)||φ_f(k̃_j)|)/|D̂_i| + u_out·|Ŷ_ic|

    (numerator and normalizer each within ε of their absolute sums; the quotient's error, times
    ``quotient_amplification`` — 1 to first order, +inf where a cancelling normalizer is not
    determined by the precision; one final rounding to the output dtype, subnormal results included: + η_out,
    ``underflow_error``). ``feature_options`` go to ``feature_map``."""
    q64, k64, v64, w64 = (x.detach().double() for x in (q, k, v, w))
    qf = impl.feature_map(scaled(q64), w64, kind=kind, **feature_options).double()
    kf = impl.feature_map(scaled(k64), w64, kind=kind, **feature_options).double()
    y = feature_attention(qf, kf, v64, causal=causal, key_mask=key_mask)
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=qf.device)
    absolute = (qf.abs() @ kf.abs().transpose(-2, -1)).masked_fill(~allowed, 0.0)
    normalizer = (qf @ kf.transpose(-2, -1)).masked_fill(~allowed, 0.0).sum(-1, keepdim=True).abs()
    norms = scaled(q64).norm(dim=-1).amax() + scaled(k64).norm(dim=-1).amax()
    exponent = float(w64.norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[0]))
    precision = precision_of(impl, dtype)
    u64 = unit_roundoff(torch.float64)
    sizes = dict(d=q.shape[-1], exponent=exponent, features=qf.shape[-1], length=k.shape[-2])
    epsilon = term_error(
        **sizes, products=unit_roundoff(precision.products), accumulation=accumulation_roundoff(precision.accumulation)
    ) + term_error(**sizes, products=u64, accumulation=u64)  # the float64 reference's own rounding
    allowance = quotient_allowance(epsilon, absolute @ v64.abs(), absolute.sum(-1, keepdim=True), normalizer, y, dtype)
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


def _feature_slopes(x: torch.Tensor, w: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(|φ(x̃)|, Σ|terms| of ∂φ_f/∂x̃_k) for the exact map ``kind`` (MATH 2-4), float64, ``[..., F]``
    and ``[..., F, d]``: positive/hyperbolic ∂φ_f = φ_f·(±ω_f) − φ_f·x̃, two terms computed apart
    (the projection and the norm), hence φ_f(|ω_f| + |x̃|); trigonometric
    ∂(e^{‖x̃‖²/2}sin ωᵀx̃) = e^{‖x̃‖²/2}(cos ωᵀx̃·ω + sin ωᵀx̃·x̃) and its cosine twin."""
    m = w.shape[0]
    proj = x @ w.transpose(-2, -1)
    half = 0.5 * x.square().sum(-1, keepdim=True)
    if kind == "trigonometric":
        scale = torch.exp(half) / math.sqrt(m)
        sin, cos = torch.sin(proj).abs(), torch.cos(proj).abs()
        values = scale * torch.cat([sin, cos], dim=-1)
        slopes = scale.unsqueeze(-1) * (
            torch.cat([cos, sin], dim=-1).unsqueeze(-1) * torch.cat([w, w]).abs()
            + torch.cat([sin, cos], dim=-1).unsqueeze(-1) * x.abs().unsqueeze(-2)
        )
        return values, slopes
    signs = (1.0,) if kind == "positive" else (1.0, -1.0)
    norm = math.sqrt(m * len(signs))
    values = torch.cat([torch.exp(s * proj - half) / norm for s in signs], dim=-1)
    directions = torch.cat([s * w for s in signs])
    slopes = values.unsqueeze(-1) * (directions.abs() + x.abs().unsqueeze(-2))
    return values, slopes


def gradients_on_same_features(
    impl: Implementation,
    q,
    k,
    v,
    w,
    cotangent,
    *,
    kind: str = "positive",
    causal: bool = False,
    key_mask=None,
    precision: Precision,
    out_dtype: torch.dtype,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """((dq, dk, dv), their allowances): float64 autograd of ⟨cotangent, D̂⁻¹ÂV⟩ through the
    quadratic computation on φ from ``feature_map`` (MATH 17), and the elementwise rounding
    allowance of an implementation computing the same gradients at ``precision`` (MATH 43g).

    Each gradient entry is a sum of terms, each the product of two features, one feature slope
    (``_feature_slopes``), the cotangent, (v − Ŷ) and 1/D̂ (the chain rule through Ŷ = N̂/D̂):
    dv_j = Σ_i g_i â_ij/D̂_i; ∂φ_f(k̃_j) = Σ_i φ_f(q̃_i)·gᵢᵀ(v_j − Ŷ_i)/D̂_i; ∂φ_f(q̃_i) = Σ_j
    φ_f(k̃_j)·gᵢᵀ(v_j − Ŷ_i)/D̂_i, then through the slopes and d^(−1/4). Two sources of error:

    * the terms' own roundings, ε_local = 3·feature_error + γ_6(u_p) + γ_{Lq+Lk+F+dv+d}(u_a), on
      Σ|terms| with weight |gᵢ|ᵀ(|v_j| + |Ŷ_i|)/|D̂_i|;
    * the forward errors of Ŷ_i and D̂_i they are built from (ε_fwd = ``term_error``): |ΔD̂_i| ≤
      ε_fwd·Σ_j|â_ij| and |ΔŶ_i| ≤ ε_fwd·(Σ_j|â_ij||v_j| + |Ŷ_i|Σ_j|â_ij|)/|D̂_i|, so the weight
      is [|gᵢ|ᵀ(|v_j| + |Ŷ_i|)·κ_i + |gᵢ|ᵀ(Σ_l|â_il||v_l| + |Ŷ_i|Σ_l|â_il|)/|D̂_i|]/|D̂_i| with
      κ_i = Σ_l|â_il|/|D̂_i| (1 for positive features, unbounded for trigonometric ones, whose
      normalizer cancels), times ``quotient_amplification`` (1/(1 − ε_fwd·κ_i), +inf where the
      normalizer is not determined by the precision: entries fed by such a row are unconstrained).

    Allowance ε_local·Σ|terms|_local + ε_fwd·Σ|terms|_fwd + u_out·|grad| + η_out, each ε for the
    implementation plus the same at float64 for the reference."""
    leaves = [x.detach().double().requires_grad_(True) for x in (q, k, v)]
    q64, k64, v64 = leaves
    w64 = w.detach().double()
    qf = impl.feature_map(scaled(q64), w64, kind=kind).double()
    kf = impl.feature_map(scaled(k64), w64, kind=kind).double()
    y = feature_attention(qf, kf, v64, causal=causal, key_mask=key_mask)
    g = cotangent.double()
    reference = torch.autograd.grad((y * g).sum(), leaves)
    with torch.no_grad():
        y, v_abs, g_abs = y.detach().abs(), v64.detach().abs(), g.abs()
        allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=y.device)
        qv, q_slope = _feature_slopes(scaled(q64.detach()), w64, kind)
        kv, k_slope = _feature_slopes(scaled(k64.detach()), w64, kind)
        absolute = (qv @ kv.transpose(-2, -1)).masked_fill(~allowed, 0.0)
        den = (qf @ kf.transpose(-2, -1)).detach().masked_fill(~allowed, 0.0).sum(-1, keepdim=True).abs()
        den_abs = absolute.sum(-1, keepdim=True)
        condition = den_abs / den
        g_v = g_abs @ v_abs.transpose(-2, -1) + (g_abs * y).sum(-1, keepdim=True)
        g_n = (g_abs * (absolute @ v_abs + y * den_abs)).sum(-1, keepdim=True)
        norms = scaled(q64).norm(dim=-1).amax() + scaled(k64).norm(dim=-1).amax()
        exponent = float(w64.norm(dim=-1).amax() * norms + norms**2 + math.log(2 * w.shape[0]))
        sums = q.shape[-2] + k.shape[-2] + qf.shape[-1] + v.shape[-1] + q.shape[-1]
        sizes = dict(d=q.shape[-1], exponent=exponent, features=qf.shape[-1], length=k.shape[-2])
        u64 = unit_roundoff(torch.float64)
        roundoffs = ((unit_roundoff(precision.products), accumulation_roundoff(precision.accumulation)), (u64, u64))
        local = sum(3 * feature_error(q.shape[-1], exponent, p) + gamma(6, p) + gamma(sums, a) for p, a in roundoffs)
        forward = sum(term_error(**sizes, products=p, accumulation=a) for p, a in roundoffs)
        amplified = quotient_amplification(forward, condition) / den
        scale = q.shape[-1] ** -0.25

        def through_slopes(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
            weight = weight.masked_fill(~allowed, 0.0)
            return (
                scale * torch.einsum("...if,...ifk->...ik", weight @ kv, q_slope),
                scale * torch.einsum("...jf,...jfk->...jk", weight.transpose(-2, -1) @ qv, k_slope),
            )

        local_terms = (*through_slopes(g_v / den), (absolute / den).transpose(-2, -1) @ g_abs)
        forward_terms = (
            *through_slopes(amplified * (g_v * condition + g_n / den)),
            (absolute * amplified * condition).transpose(-2, -1) @ g_abs,
        )
        u_out, eta_out = unit_roundoff(out_dtype), underflow_error(out_dtype)
        allowances = tuple(
            # 0·inf (a zero term beside an undetermined row) counts as unconstrained: an upper bound
            (local * a + forward * b).nan_to_num(nan=math.inf, posinf=math.inf) + u_out * ref.abs() + eta_out
            for a, b, ref in zip(local_terms, forward_terms, reference, strict=True)
        )
    return reference, allowances
