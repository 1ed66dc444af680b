"""idiap's ``pytorch-fast-transformers`` 0.4.0 (PyPI, built for the CPU) as implementations under test.

Install (a plain ``pip install`` fails looking for CUDA_HOME; with no ``nvcc`` on PATH the CPU build
works unchanged): ``pip install torch==2.13.0`` then ``env PATH=<venv>/bin:/usr/bin:/bin MAX_JOBS=2
pip install --no-build-isolation pytorch-fast-transformers==0.4.0`` (~5 min build, then cached). Run:
``python -m favor_suite.peers fast-transformers``. Verdict: ``FAST_TRANSFORMERS_VERDICT.md``.

Two records, one per value of the option that changes the arithmetic: ``UNSTABILIZED``
(``Favor(stabilize=False)``, the default) and ``STABILIZED`` (``Favor(stabilize=True)``).

Every capability calls the library's own code (line numbers: ``fast_transformers/...`` in 0.4.0,
as installed); nothing of its behaviour is corrected:

``sample_projection``
    ``Favor(d, n_dims=2m, orthogonal=...).new_feature_map(device)``: the buffer ``omega [d, m]``
    the library draws (``feature_maps/fourier_features.py``, ``new_feature_map``), transposed to
    the suite's ``[m, d]``. ``orthogonal=True`` runs ``orthogonal_random_matrix_`` (a QR per
    d×d block, norms taken from the *rows of the same block*); ``orthogonal=False`` runs
    ``omega.normal_()``, the library's own iid sampler. There are no fixed norms. The library
    draws from torch's global RNG in the default dtype: the global RNG is seeded from one draw of
    the suite's generator inside ``torch.random.fork_rng`` (restored afterwards), and the default
    dtype is float64 for the call (a user can do the same), as in ``performer_pytorch.py``.
``feature_map(x, w, kind="hyperbolic")``
    ``Favor.forward`` with ``softmax_temp=1`` (x as given) and ``omega = wᵀ``: φ(x) =
    [exp(ωᵀx − ‖x‖²/2 − ½ln 2m), exp(−ωᵀx − ‖x‖²/2 − ½ln 2m)], exactly MATH 4's hyperbolic map
    (2m features from m vectors). Favor has no other kind: it *is* the hyperbolic map, so
    ``positive`` and ``trigonometric`` are not claimed. ``[..., N, d]`` becomes the library's
    ``[B, N, 1, d]`` (its layout ``(N, L, H, D)``). With ``stabilize=True`` the library subtracts
    max_l‖x_l‖² over the sequence axis (dim 1) from every exponent — one scalar e^(−M) per call
    slice, which cancels in attention; as in ``performer_pytorch.py`` that one scalar is multiplied
    back (M recomputed with the library's own einsum and max), so kernel tests see φ, not e^(−M)φ.
``attention(q, k, v, w, kind="hyperbolic", causal, key_mask)``
    ``LinearAttention`` (bidirectional) or ``CausalLinearAttention`` (causal) with
    ``feature_map=Favor.factory(n_dims=2m, stabilize=...)`` and its defaults (``eps=1e-6``,
    ``softmax_temp = 1/√d``: the library applies d^(-1/4) itself). ``Favor`` redraws ω on every
    call unless ``deterministic_eval=True`` in eval mode — what a user does to fix the features;
    ω is then the suite's ``w`` (in the input dtype, as ``module.to(dtype)`` would make it).
    Masks are the library's: ``FullMask`` (all ones) or ``TriangularCausalMask`` for
    ``attn_mask``, ``LengthMask`` (full) for ``query_lengths``, and for ``key_lengths`` a
    ``LengthMask`` of full length, or ``FullMask(key_mask)`` (``[B, L]`` booleans: the attention
    multiplies K by its ``float_matrix``, which removes masked keys from numerator and normalizer).
    ``[*batch, L, d]`` becomes ``[B, L, 1, d]``; the output ``[B, L, 1, dv]`` goes back.
Flags: float64 and float32 (``causal_product_cpu`` takes float32 only, see FINDINGS; half
precision fails in ``K * key_lengths.float_matrix``, a float32 mask); backward works; no input
validation; no block-length option; no GERF. No known deviations are declared.
"""

from __future__ import annotations

import torch
from fast_transformers.attention import CausalLinearAttention, LinearAttention
from fast_transformers.feature_maps import Favor
from fast_transformers.masking import FullMask, LengthMask, TriangularCausalMask

from favor_suite.implementation import Implementation, Precision
from favor_suite.peers import Finding, Match

__all__ = ["FINDINGS", "STABILIZED", "UNSTABILIZED", "attention", "feature_map", "sample_projection"]


def sample_projection(m: int, d: int, *, orthogonal: bool, norms: str, generator: torch.Generator) -> torch.Tensor:
    """ω ``[m, d]``: ``Favor.new_feature_map``'s ``omega``, transposed."""
    if norms != "chi":
        raise ValueError(f"fast-transformers draws χ_d norms only, got norms={norms!r}")
    device = generator.device
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    forked = [device.index or 0] if device.type == "cuda" else []
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float64)
        try:
            fmap = Favor(d, n_dims=2 * m, orthogonal=orthogonal)
            fmap.new_feature_map(device)
        finally:
            torch.set_default_dtype(previous)
    return fmap.omega.T


def _check_kind(kind: str) -> None:
    if kind != "hyperbolic":
        raise ValueError(f"fast-transformers' Favor is the hyperbolic feature map only, got kind={kind!r}")


def _favor(projection: torch.Tensor, dtype: torch.dtype, *, stabilize: bool, softmax_temp: float | None) -> Favor:
    """A Favor module whose ω is ``projection`` and which never redraws it."""
    m, d = projection.shape
    fmap = Favor(d, n_dims=2 * m, softmax_temp=softmax_temp, stabilize=stabilize, deterministic_eval=True).eval()
    fmap.omega = projection.T.to(dtype)
    return fmap


def _feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str, stabilize: bool) -> torch.Tensor:
    _check_kind(kind)
    lead = x.shape[:-1] if x.dim() > 1 else (1,)
    data = x.reshape(-1, lead[-1], 1, x.shape[-1])  # [B, N, H=1, d], the library's (N, L, H, D)
    fmap = _favor(projection, x.dtype, stabilize=stabilize, softmax_temp=1.0)
    phi = fmap(data)
    if stabilize:
        # The offset Favor.forward adds: max over dim 1 of ‖x‖², with its own einsum and max.
        norm_sq = torch.einsum("...d,...d->...", data, data).unsqueeze(-1)
        phi = phi * torch.exp(norm_sq.max(1, keepdim=True)[0])
    out = phi.reshape(*lead, phi.shape[-1])
    return out if x.dim() > 1 else out[0]


def _attention(q, k, v, projection, *, kind: str, causal: bool, key_mask, stabilize: bool) -> torch.Tensor:
    _check_kind(kind)
    batch, length, d = q.shape[:-2], q.shape[-2], q.shape[-1]
    q4, k4, v4 = (t.reshape(-1, t.shape[-2], 1, t.shape[-1]) for t in (q, k, v))
    n, keys = q4.shape[0], k4.shape[1]
    module = (CausalLinearAttention if causal else LinearAttention)(d)
    module.feature_map = _favor(projection, q.dtype, stabilize=stabilize, softmax_temp=None)
    device = q.device
    attn_mask = TriangularCausalMask(length, device=device) if causal else FullMask(length, keys, device=device)
    query_lengths = LengthMask(torch.full((n,), length, dtype=torch.int64, device=device), max_len=length)
    if key_mask is None:
        key_lengths = LengthMask(torch.full((n,), keys, dtype=torch.int64, device=device), max_len=keys)
    else:
        key_lengths = FullMask(key_mask.reshape(n, keys).to(device=device, dtype=torch.bool))
    out = module(q4, k4, v4, attn_mask, query_lengths, key_lengths)
    return out.reshape(*batch, length, out.shape[-1])


def _record(stabilize: bool) -> Implementation:
    def feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str) -> torch.Tensor:
        return _feature_map(x, projection, kind=kind, stabilize=stabilize)

    def attention(q, k, v, projection, *, kind: str, causal: bool, key_mask=None) -> torch.Tensor:
        return _attention(q, k, v, projection, kind=kind, causal=causal, key_mask=key_mask, stabilize=stabilize)

    return Implementation(
        name=f"fast-transformers[{'stabilized' if stabilize else 'unstabilized'}]",
        sample_projection=sample_projection,
        feature_map=feature_map,
        attention=attention,
        feature_kinds=("hyperbolic",),
        orthogonal=True,
        fixed_norms=False,
        causal=True,
        key_mask=True,
        dtypes=(torch.float64, torch.float32),
        autograd=True,
        input_validation=False,
        chunk_option=None,
        gerf=False,
        compute_precision={
            torch.float64: Precision(torch.float64, torch.float64),
            torch.float32: Precision(torch.float32, torch.float32),
        },
        known_deviations={},
    )


UNSTABILIZED = _record(stabilize=False)
STABILIZED = _record(stabilize=True)
feature_map = UNSTABILIZED.feature_map
attention = UNSTABILIZED.attention
IMPLEMENTATION = UNSTABILIZED


# ---------------------------------------------------------------------------- findings (data)
_LIN = "fast_transformers/attention/linear_attention.py"
_CAUSAL = "fast_transformers/attention/causal_linear_attention.py"
_FOURIER = "fast_transformers/feature_maps/fourier_features.py"
_FLOAT_ONLY = r"expected scalar type Float but found Double"

FINDINGS = (
    Finding(
        "A",
        "eps = 1e-6 added to the normalizer",
        (f"{_LIN}:75", f"{_CAUSAL}:95"),
        "Both attentions divide by `Q·ΣK + eps` (`Z = 1/(einsum(Q, K.sum(1)) + self.eps)`, default eps = 1e-6) while "
        "the numerator has no such term, so every output row is N/(D + 1e-6) instead of N/D (MATH 17): pulled towards "
        "0 by the factor D/(D + 1e-6). The relative error 1e-6/D grows as the features shrink — small kernel values, "
        "or `stabilize=True`, which multiplies D by e^(−M_q−M_k) (cause F). A row whose keys are all masked returns 0 "
        "(0/(0 + 1e-6)) instead of being undefined. Outputs leave the convex hull of the values (MATH 18).",
        (
            Match("attention_identities::test_linear_time_equals_quadratic_on_the_same_features*", r"max error"),
            Match("attention_identities::test_linear_time_equals_quadratic_on_the_same_features*", r"NaN pattern"),
            Match("attention_identities::test_output_rows_lie_in_the_convex_hull_of_the_values*"),
            Match("attention_identities::test_bidirectional_attention_is_permutation_equivariant*", r"max error"),
            Match("attention_identities::test_batch_and_head_slices_are_independent*", r"max error"),
            Match("causality::test_padding_mask_equals_truncation*", r"max error|NaN pattern"),
            Match("numerics::test_gradients_match_float64_on_the_same_features*", r"^d[qkv] "),
        ),
        "L = 1, D = φ(q̃)ᵀφ(k̃) ≈ 0.92: output −1.084521257 for v = −1.084522342, a relative gap of 1.0e-6 = eps/D.",
    ),
    Finding(
        "B",
        "The CPU causal kernel takes float32 only",
        (
            "fast_transformers/causal_product/causal_product_cpu.cpp:96",
            "fast_transformers/causal_product/__init__.py:41",
        ),
        "`causal_dot_product` reads its inputs through `accessor<float, 4>()` and allocates its output with "
        "`torch.zeros((N, H, L, M))` in the default dtype, so `CausalLinearAttention` on float64 (or half) inputs "
        "raises `RuntimeError: expected scalar type Float but found Double`: a clear error, not a wrong number, but "
        "no causal attention in float64. Bidirectional `LinearAttention` computes in float64. The record declares "
        "float64 because the bidirectional path supports it; every float64 causal case therefore errors.",
        (Match("*", _FLOAT_ONLY),),
    ),
    Finding(
        "C",
        "Orthogonal sampler: norms taken from the rows of the block whose QR gives the directions",
        (f"{_FOURIER}:35", f"{_FOURIER}:36", f"{_FOURIER}:38"),
        "`orthogonal_random_matrix_` draws a d×d Gaussian block G, takes its *row* norms ‖G_j,:‖ (l. 36), its QR "
        "directions Q (l. 37), and sets ω_j = Q[:, j]·‖G_j,:‖ (l. 38-40). Row j of G and column j of Q share G_jj "
        "(Q[:, 0] = ±G[:, 0]/‖G[:, 0]‖), so the norm is not independent of the direction and ω_j is not N(0, I_d) "
        "marginally (MATH 10 needs independent χ_d norms). That biases *every* feature map, the even hyperbolic one "
        "included: E[cosh(ωᵀz)] ≠ e^(‖z‖²/2). The bias depends on the direction of z and shrinks with d.",
        (
            Match("kernel_estimator::test_kernel_estimate_is_unbiased*orthogonal*"),
            Match("kernel_estimator::test_kernel_estimate_variance_matches_closed_form*orthogonal*"),
            Match("kernel_estimator::test_kernel_matrix_error_falls_as_one_over_m*orthogonal*"),
            Match("attention_statistics::test_8192_orthogonal_features*"),
        ),
        "400 000 blocks, s = ‖z‖² = 1, relative bias of the hyperbolic (cosh) estimator: z ∥ e₀: +12.6 % (d = 2), "
        "+4.9 % (d = 4), +1.6 % (d = 8); a random z: +11.5 % (d = 2), +1.3 % (d = 4), −0.5 % (d = 8). With "
        "independent χ_d norms and the library's unfixed QR, the same estimator's bias is ≤ 0.1 % in every case (the "
        "sign defect D does not bias an even map). Through the suite's own `checks.kernel_mean` at ‖x‖ = ‖y‖ = 0.35: "
        "z = +32.9 (d = 2, axis), −30.0 (d = 2, random), +22.3 (d = 3), +13.0 (d = 4); d = 8 and iid pass.",
    ),
    Finding(
        "D",
        "QR without the sign fix: directions Haar only up to sign",
        (f"{_FOURIER}:37",),
        "`Q, _ = torch.qr(block)` uses LAPACK's Q as it comes (no Q ← Q·diag(sign diag R), MATH 10): column j has "
        "Q_jj ≤ 0, so the directions are Haar only up to sign, and at d = 1 every ω is −|g| (KS distance 0.50 from "
        "N(0, 1)). The *projection law* fails by this (and, for d ≥ 2, also by C). Favor's features "
        "[exp(ωᵀx), exp(−ωᵀx)] are invariant under ω → −ω, so this defect alone biases no kernel estimate of Favor; it "
        "would bias a one-sided map (the positive exp(ωᵀx) estimator with this sampler: −29 % at d = 2, z ∥ e₀).",
        (Match("projections::test_coordinates_and_norms_follow_the_gaussian_law*orthogonal*"),),
    ),
    Finding(
        "E",
        "Half precision is not supported (not claimed)",
        (f"{_LIN}:67", f"{_CAUSAL}:83", "fast_transformers/masking.py:36"),
        "Both attentions multiply K by `key_lengths.float_matrix`, which is float32 (`bool_matrix.float()`), so fp16 "
        "and bf16 keys are promoted to float32 and the next einsum fails (`expected scalar type BFloat16 but found "
        "Float`). The records therefore declare float64 and float32 only.",
        (),
    ),
    Finding(
        "F",
        "stabilize=True subtracts the max squared norm over the whole sequence",
        (f"{_FOURIER}:235", f"{_FOURIER}:237"),
        "With `stabilize=True` every exponent of a sequence also loses M = max_l ‖x̃_l‖² over the sequence axis "
        "(`offset + norm_x_squared.max(1, keepdim=True)[0]`). The factor e^(−M) is common to all queries (or all keys) "
        "of a sequence and would cancel, but (i) it multiplies D by e^(−M_q−M_k), so eps (cause A) weighs "
        "e^(M_q+M_k) times more; (ii) for keys M includes *future* keys, so causal outputs depend on the future "
        "through eps and, when a future key is large, the past keys' features underflow (exp(u − ‖x̃‖²/2 − M) → 0 in "
        "float32 once M ≳ 87) and the past outputs collapse to 0; (iii) it subtracts a squared norm, not the largest "
        "exponent, so it does not prevent underflow of small features — it causes it.",
        (
            Match("causality::test_future_tokens_do_not_change_past_outputs*", records="fast-transformers[stabilized]"),
            Match("causality::test_nan_reaches_exactly_its_dependents*", records="fast-transformers[stabilized]"),
            Match("attention_identities::*", r"max error|NaN pattern", records="fast-transformers[stabilized]"),
            Match("numerics::*", r"^d[qkv] |max error", records="fast-transformers[stabilized]"),
        ),
        "float32, causal, d = 8, L = 6, m = 32, ‖q‖, ‖k‖ ≈ 0.8√d: multiplying keys 3-5 by 3 moves outputs 0-2 by "
        "1.64 with `stabilize=True` (0 without); with eps = 0 (diagnostic) by 3e-7, float32 rounding.",
    ),
    Finding(
        "G",
        "The attention mask of a bidirectional call is a dense L×L matrix",
        ("fast_transformers/masking.py:153", "fast_transformers/transformers.py:72", f"{_LIN}:64"),
        "`LinearAttention.forward` takes `attn_mask` and only checks `attn_mask.all_ones`; the all-ones mask a user "
        "passes — and the one `TransformerEncoderLayer` builds, `FullMask(L)` (transformers.py:72) — is "
        "`torch.ones(N, M, dtype=torch.bool)` (masking.py:153): L² bytes allocated for every call, so memory is "
        "quadratic in L although the attention itself is linear. The causal `TriangularCausalMask` is a lengths "
        "mask and allocates no matrix.",
        (
            Match("cost::test_no_quadratic_or_prefix_state_tensor_is_created*bidirectional*", r"aten\.ones"),
            Match("cost::test_live_memory_holds_no_prefix_states*bidirectional*", r"grows faster than L"),
        ),
        "L = 256 → 512: the live-memory peak grows from 546 832 to 1 220 624 bytes (the L² bool mask: 65 536 → "
        "262 144 bytes); `aten.ones` produces the (256, 256) tensor.",
    ),
)
