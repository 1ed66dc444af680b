"""Moments of the FAVOR attention output: exact for the numerator and normalizer, approximate for
their ratio Ŷ (MATH 17, 20, 20a, 41).

For query row i, the m-row estimates N̂_ic = Σ_j Â_ij V_jc and D̂_i = Σ_j Â_ij are means of m iid
vectors X_r = Σ_j Y_rj·(V_j, 1) (iid projection rows), Y_rj the one-row estimate of
A_ij = SM(q̃_i, k̃_j) (``estimator_moments``). Their moments up to order four are exact closed forms
(``output_moments``); the ratio Ŷ = N̂/D̂ has only the delta-method approximation
(``delta_method_moments``). Inputs are unbatched float tensors; results are float64.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch

from favor_suite.reference.rounding import gamma, unit_roundoff
from favor_suite.reference.softmax import allowed_pairs, softmax_attention

__all__ = ["OUTPUT_KINDS", "OutputMoments", "delta_method_moments", "output_moments"]

OUTPUT_KINDS = ("positive", "hyperbolic", "trigonometric")

_EDGES = list(itertools.combinations(range(4), 2))
_COVERING = [
    [e for b, e in enumerate(_EDGES) if mask >> b & 1]
    for mask in range(1, 2 ** len(_EDGES))
    if {t for b, e in enumerate(_EDGES) if mask >> b & 1 for t in e} == {0, 1, 2, 3}
]
"""The 41 edge sets on four positions that leave no position isolated (MATH 41)."""


class OutputMoments(NamedTuple):
    """Exact moments of N̂_ic and D̂_i for m iid rows (MATH 41); shapes ``[Lq, dv]`` or ``[Lq]``."""

    mean_numerator: torch.Tensor
    """E N̂_ic = Σ_j A_ij V_jc (unbiased, MATH 17)."""
    mean_normalizer: torch.Tensor
    """E D̂_i = Σ_j A_ij."""
    var_numerator: torch.Tensor
    """Var N̂_ic = μ₂[c, c]/m."""
    var_normalizer: torch.Tensor
    """Var D̂_i = μ₂[D, D]/m."""
    cov: torch.Tensor
    """Cov(N̂_ic, D̂_i) = μ₂[c, D]/m."""
    var_sq_numerator: torch.Tensor
    """Var((N̂_ic − EN̂_ic)²) = (μ₄[cccc] + (2m − 3)μ₂[cc]²)/m³, μ₄ raised by its rounding bound
    (MATH 41a): an upper bound, never below the exact value however much K₄ cancels."""
    var_sq_normalizer: torch.Tensor
    """Var((D̂_i − ED̂_i)²) = (μ₄[DDDD] + (2m − 3)μ₂[DD]²)/m³."""
    var_cross: torch.Tensor
    """Var((N̂_ic − EN̂_ic)(D̂_i − ED̂_i)) = (μ₄[ccDD] + (m − 1)μ₂[cc]μ₂[DD] + (m − 2)μ₂[cD]²)/m³,
    μ₄ raised by its rounding bound as for ``var_sq_numerator``."""


def _edge_view(gram: torch.Tensor, edge: tuple[int, int]) -> torch.Tensor:
    """C[j_t, j_t′] for positions (t, t′), broadcast to ``[Lq, L, L, L, L]``."""
    view = gram
    for position in sorted({0, 1, 2, 3} - set(edge)):
        view = view.unsqueeze(1 + position)
    return view


def _central_kernels(
    gram: torch.Tensor, slack: torch.Tensor, kind: str
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """(K₂ ``[Lq, L, L]``, K₄ ``[Lq, L, L, L, L]``, (S₀, S_δ) of K₄'s shape): E[Π_t (Y_{j_t}/A_{j_t} − 1)]
    for two and four positions (MATH 41): averaged over sign patterns ε (hyperbolic, trigonometric;
    positive: ε = 1), Σ over edge sets G covering every position of Π_{(t,t′)∈G} expm1(ε_tε_t′·C[j_t, j_t′]).
    S₀ is the same average of Π|expm1(·)|, S_δ of Π(|expm1(·)| + slack): what bounds K₄'s rounding
    where its terms cancel (MATH 41a); ``slack`` bounds each factor's error from the rounding of C."""
    if kind == "positive":
        patterns, k2 = [(1, 1, 1, 1)], torch.expm1(gram)
    else:
        patterns, k2 = [(1, *rest) for rest in itertools.product((1, -1), repeat=3)], 2 * torch.sinh(gram / 2) ** 2
    views = [_edge_view(gram, edge) for edge in _EDGES]
    slacks = [_edge_view(slack, edge) for edge in _EDGES]
    k4 = torch.zeros(gram.shape[:1] + gram.shape[1:2] * 4, dtype=gram.dtype, device=gram.device)
    k4_abs, k4_wide = torch.zeros_like(k4), torch.zeros_like(k4)
    for eps in patterns:
        factors = {e: torch.expm1(eps[e[0]] * eps[e[1]] * v) for e, v in zip(_EDGES, views, strict=True)}
        widened = {e: factors[e].abs() + b for e, b in zip(_EDGES, slacks, strict=True)}
        for graph in _COVERING:
            product, wide = factors[graph[0]], widened[graph[0]]
            for edge in graph[1:]:
                product, wide = product * factors[edge], wide * widened[edge]
            k4, k4_abs, k4_wide = k4 + product, k4_abs + product.abs(), k4_wide + wide
    return k2, k4 / len(patterns), (k4_abs / len(patterns), k4_wide / len(patterns))


def _fourth_moment_error(
    k4: torch.Tensor, sums: tuple[torch.Tensor, torch.Tensor], gammas: tuple[float, float], *weights
) -> torch.Tensor:
    """Bound on |computed − exact| of Σ K₄(j₁…j₄)·Π_t w_t[j_t] (MATH 41a), in two stages. Each K₄
    entry: (S_δ − S₀) + γ₁·S_δ, S₀ the average of Π|expm1| over its terms and S_δ the same with every
    factor widened by its slack (the rounding of C moves a product by at most the difference), γ₁
    for the operations on one term's path and the sum over patterns and edge sets. The contraction
    with the weights: γ₂·Σ|K₄|·Π|w_t|, γ₂ for the Lk⁴-term sum and the weights' own rounding."""
    spec = "ijklm,ij...,ik...,il...,im...->i..."
    plain, wide = sums
    entry_error = (wide - plain).clamp_min(0) + gammas[0] * wide
    return torch.einsum(spec, entry_error, *weights) + gammas[1] * torch.einsum(spec, k4.abs(), *weights)


def output_moments(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    m: int,
    *,
    kind: str = "positive",
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
) -> OutputMoments:
    """Exact moments of N̂ and D̂ with m iid projection rows ω_r ~ N(0, I_d) (MATH 41).

    q: ``[Lq, d]``, k: ``[Lk, d]``, v: ``[Lk, dv]`` unscaled (q̃ = d^(−1/4)q, likewise k̃);
    key_mask: ``[Lk]`` bool. Allowed keys as in ``softmax_attention``. With z_j = q̃_i + k̃_j
    (positive, hyperbolic) or z_j = q̃_i − k̃_j (trigonometric) and C_jl = ±z_jᵀz_l (− for trig),
    the per-row central moments of X_r are μ₂ = Σ_jl K₂[j,l] a_j a_lᵀ and μ₄ = Σ K₄[j1..j4] a_j1 ⊗ … ⊗ a_j4,
    a_j = A_ij(V_j, 1); the moments of the mean of m iid X_r follow (fields of ``OutputMoments``).
    Cost O(Lq·Lk⁴): test sizes only (Lk ≤ ~10).
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {OUTPUT_KINDS}, got {kind!r}")
    q, k, v = q.double(), k.double(), v.double()
    scale = q.shape[-1] ** -0.25
    qt, kt = q * scale, k * scale
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=q.device)
    a = torch.exp(qt @ kt.T) * allowed  # [Lq, Lk]
    sign = -1.0 if kind == "trigonometric" else 1.0
    z = qt[:, None, :] + sign * kt[None, :, :]  # [Lq, Lk, d]
    gram = sign * z @ z.transpose(-2, -1)
    u, d = unit_roundoff(torch.float64), q.shape[-1]
    slack = torch.exp(gram.abs()) * gamma(d, u) * (z.abs() @ z.abs().transpose(-2, -1))
    k2, k4, sums = _central_kernels(gram, slack, kind)
    weights = a[..., None] * torch.cat([v, torch.ones_like(v[:, :1])], dim=-1)  # a_j: [Lq, Lk, dv+1]
    mu2 = torch.einsum("ijl,ijc,ild->icd", k2, weights, weights)
    mu4 = torch.einsum("ijklm,ijc,ikc,ilc,imc->ic", k4, weights, weights, weights, weights)
    num, den = weights[..., :-1], weights[..., -1]
    mu4_cross = torch.einsum("ijklm,ijc,ikc,il,im->ic", k4, num, num, den, den)
    # MATH 41a: a K₄ entry is an average of 8·41 products of up to 6 expm1 factors (γ₁); the
    # contraction sums Lk⁴ products of K₄ and four weights, each weight d + 3 operations (γ₂).
    gammas = (gamma(2 * 6 + 8 * len(_COVERING) + 1, u), gamma(k.shape[-2] ** 4 + 4 + 4 * (d + 3), u))
    w_abs, n_abs, d_abs = weights.abs(), num.abs(), den.abs()
    mu4 = mu4 + _fourth_moment_error(k4, sums, gammas, w_abs, w_abs, w_abs, w_abs)
    mu4_cross = mu4_cross + _fourth_moment_error(k4, sums, gammas, n_abs, n_abs, d_abs, d_abs)
    var = torch.diagonal(mu2, dim1=-2, dim2=-1)  # [Lq, dv+1]
    cov = mu2[:, :-1, -1]
    var_sq = (mu4 + (2 * m - 3) * var**2) / m**3
    return OutputMoments(
        mean_numerator=a @ v,
        mean_normalizer=a.sum(-1),
        var_numerator=var[:, :-1] / m,
        var_normalizer=var[:, -1] / m,
        cov=cov / m,
        var_sq_numerator=var_sq[:, :-1],
        var_sq_normalizer=var_sq[:, -1],
        var_cross=(mu4_cross + (m - 1) * var[:, :-1] * var[:, -1:] + (m - 2) * cov**2) / m**3,
    )


def delta_method_moments(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    m: int,
    *,
    causal: bool = False,
    key_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Second-order (delta-method) approximation of the bias and variance of Ŷ_ic = N̂_ic/D̂_i with
    m iid positive features. **(derived)**, MATH 20; an approximation, not a bound.

    For row i, with q̃ = d^(-1/4)q, k̃ = d^(-1/4)k, a_j = exp(q̃_iᵀk̃_j), z_j = q̃_i + k̃_j,
    C_jl = a_j a_l (exp(z_jᵀz_l) − 1) (m·Cov(Â_ij, Â_il), MATH 20a), D = Σ_j a_j, y = Y_ic and
    r_j = V_jc − y:

        bias ≈ −(1/(m D²)) Σ_jl C_jl r_j,    Var ≈ (1/(m D²)) Σ_jl C_jl r_j r_l   (+O(m⁻²)).

    Sums run over the allowed keys (j, l ≤ i when causal; masked keys removed). Measured within
    0.93-1.00 of the true variance for m ≥ 32 at s ≲ 1 (MATH 20). Cost O(Lq·Lk²·d).
    Returns ``(bias, variance)``, each ``[..., Lq, dv]``.
    """
    q, k, v = q.double(), k.double(), v.double()
    scale = q.shape[-1] ** -0.25
    qt, kt = q * scale, k * scale
    allowed = allowed_pairs(q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=q.device)
    qk = qt @ kt.transpose(-2, -1)
    a = torch.exp(qk) * allowed
    kk = kt @ kt.transpose(-2, -1)
    q2 = qt.square().sum(-1)
    # z_jᵀz_l = ‖q̃_i‖² + q̃_iᵀk̃_j + q̃_iᵀk̃_l + k̃_jᵀk̃_l, per row i: [..., Lq, Lk, Lk]
    zz = q2[..., :, None, None] + qk[..., :, :, None] + qk[..., :, None, :] + kk[..., None, :, :]
    cov = a[..., :, :, None] * a[..., :, None, :] * torch.expm1(zz)
    denom = a.sum(-1)
    y = softmax_attention(q, k, v, causal=causal, key_mask=key_mask)
    r = v[..., None, :, :] - y[..., :, None, :]  # [..., Lq, Lk, dv]
    cov_r = torch.einsum("...ijl,...ild->...ijd", cov, r)  # Σ_l C_jl r_l
    bias = -cov_r.sum(-2) / (m * denom[..., None] ** 2)
    var = (cov_r * r).sum(-2) / (m * denom[..., None] ** 2)
    return bias, var
