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
