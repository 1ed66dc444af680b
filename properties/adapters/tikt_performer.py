"""``tikt-performer-pytorch`` 0.15.1.1 (PyPI; a fork of lucidrains' performer-pytorch 0.15 with the
``qr_uniform_q`` option) as implementations under test.

Install in its own venv — it installs the module name ``performer_pytorch``, as lucidrains' package
does — after torch and a CPU build of its dependency pytorch-fast-transformers (see
``fast_transformers.py``): ``pip install tikt-performer-pytorch==0.15.1.1``. Run:
``python -m favor_suite.peers tikt-performer``. Verdict: ``TIKT_PERFORMER_VERDICT.md``.

Two records, one per value of the option that changes the mathematics: ``NO_SIGN_FIX``
(``qr_uniform_q=False``, the default) and ``SIGN_FIX`` (``qr_uniform_q=True``: Q ← Q·diag(sign
diag R), MATH 10). Everything else is the same code.

The mapping is ``performer_pytorch.py``'s (read its docstring); line numbers refer to
``performer_pytorch/performer_pytorch.py`` of 0.15.1.1 as installed:

``sample_projection``
    ``gaussian_orthogonal_random_matrix(m, d, scaling=0|1, qr_uniform_q=...)`` (l. 105-128):
    ``norms="chi"`` → ``scaling=0`` (norms of fresh Gaussian rows, l. 122), ``"fixed"`` →
    ``scaling=1`` (√d). ``orthogonal=False``: the library has no unstructured sampler, so
    ``torch.randn((m, d))`` from the same seeded global RNG (not library code). Global RNG seeded
    from the suite's generator inside ``fork_rng``; default dtype float64 for the call.
``feature_map(x, w, kind="positive")``
    ``softmax_kernel(x, projection_matrix=w, is_query=False, normalize_data=False)`` (l. 50-75), the
    key-side map, with its one stabilizer scalar e^(−M) multiplied back. Here M = ``torch.max
    (data_dash)`` over the *whole* tensor (l. 73) — every batch element and head, not one
    ``[b, h]`` slice as in 1.1.4 — recomputed with the library's own einsum. So φ_r(x) =
    m^(−1/2)·(exp(ω_rᵀx − ‖x‖²/2) + 1e-4·e^M), with eps and its dependence on M exactly the
    library's. ``[..., N, d]`` → ``[B, 1, N, d]``.
``attention(q, k, v, w, kind="positive", causal, key_mask=None)``
    ``FastAttention.forward`` (l. 208-226) with its projection buffer = ``w``: ``softmax_kernel(q,
    is_query=True)``, ``softmax_kernel(k, is_query=False)`` (the library's d^(-1/4)), then
    ``linear_attention`` (l. 133-138) or, causal, ``causal_linear_attention_noncuda`` (l. 165-171):
    ``FastAttention.__init__`` picks it whenever ``fast_transformers.causal_product.causal_product_cuda``
    does not import (l. 194-200), as on every CPU build. ``[*batch, L, d]`` → ``[B, 1, L, d]``.
    No key mask (``SelfAttention`` zeroes masked values only, as in 1.1.4).
Flags: all four float dtypes (computed in the input dtype); backward works; no input validation;
no block-length option; no GERF. No known deviations are declared.
"""

from __future__ import annotations

import torch
from einops import repeat
from performer_pytorch.performer_pytorch import (
    causal_linear_attention_noncuda,
    gaussian_orthogonal_random_matrix,
    linear_attention,
    softmax_kernel,
)

from favor_suite.implementation import Implementation, Precision
from favor_suite.peers import Finding, Match

__all__ = ["FINDINGS", "NO_SIGN_FIX", "SIGN_FIX"]

_SCALING = {"chi": 0, "fixed": 1}


def _sampler(qr_uniform_q: bool):
    def sample_projection(m: int, d: int, *, orthogonal: bool, norms: str, generator: torch.Generator) -> torch.Tensor:
        if norms not in _SCALING:
            raise ValueError(f"norms must be 'chi' or 'fixed', got {norms!r}")
        if not orthogonal and norms != "chi":
            raise ValueError("fixed norms are only defined for orthogonal projections")
        device = generator.device
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
        forked = [device.index or 0] if device.type == "cuda" else []
        previous = torch.get_default_dtype()
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(seed)
            torch.set_default_dtype(torch.float64)
            try:
                if orthogonal:
                    return gaussian_orthogonal_random_matrix(
                        m, d, scaling=_SCALING[norms], qr_uniform_q=qr_uniform_q, device=device
                    )
                return torch.randn((m, d), device=device)
            finally:
                torch.set_default_dtype(previous)

    return sample_projection


def _as_heads(x: torch.Tensor) -> torch.Tensor:
    """``[..., N, d]`` → the library's ``[b, h, N, d]`` with b = prod(leading dims), h = 1."""
    if x.dim() == 1:
        x = x[None]
    return x.reshape(-1, 1, *x.shape[-2:])


def _check_kind(kind: str) -> None:
    if kind != "positive":
        raise ValueError(f"tikt-performer-pytorch has only the positive softmax kernel, got kind={kind!r}")


def feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str) -> torch.Tensor:
    """φ(x) ``[..., N, m]``: the key-side softmax_kernel with its global e^(−M) multiplied back."""
    _check_kind(kind)
    data = _as_heads(x)
    phi = softmax_kernel(data, projection_matrix=projection, is_query=False, normalize_data=False)
    # M exactly as softmax_kernel forms it (l. 57-60 and 73, data_normalizer = 1): one max over all.
    proj = repeat(projection, "j d -> b h j d", b=data.shape[0], h=data.shape[1]).type_as(data)
    data_dash = torch.einsum("...id,...jd->...ij", data, proj)
    phi = phi * torch.exp(torch.max(data_dash).detach())
    lead = x.shape[:-1] if x.dim() > 1 else (1,)
    out = phi.reshape(*lead, phi.shape[-1])
    return out if x.dim() > 1 else out[0]


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, projection: torch.Tensor, *, kind: str, causal: bool,
    key_mask: torch.Tensor | None,
) -> torch.Tensor:
    """``FastAttention.forward`` on ``[*batch, L, d]`` inputs with projection ``w``: ``[*batch, L, dv]``."""
    _check_kind(kind)
    if key_mask is not None:
        raise NotImplementedError("tikt-performer-pytorch's FastAttention has no key mask")
    q4, k4, v4 = (_as_heads(t) for t in (q, k, v))
    q_features = softmax_kernel(q4, projection_matrix=projection, is_query=True)
    k_features = softmax_kernel(k4, projection_matrix=projection, is_query=False)
    attn_fn = causal_linear_attention_noncuda if causal else linear_attention
    out = attn_fn(q_features, k_features, v4)
    return out.reshape(*q.shape[:-1], out.shape[-1])


def _record(qr_uniform_q: bool) -> Implementation:
    return Implementation(
        name=f"tikt-performer[{'sign-fix' if qr_uniform_q else 'no-sign-fix'}]",
        sample_projection=_sampler(qr_uniform_q),
        feature_map=feature_map,
        attention=attention,
        feature_kinds=("positive",),
        orthogonal=True,
        fixed_norms=True,
        causal=True,
        key_mask=False,
        dtypes=(torch.float64, torch.float32, torch.bfloat16, torch.float16),
        autograd=True,
        input_validation=False,
        chunk_option=None,
        gerf=False,
        compute_precision={t: Precision(t, t) for t in (torch.float64, torch.float32, torch.bfloat16, torch.float16)},
        known_deviations={},
    )


NO_SIGN_FIX = _record(qr_uniform_q=False)
SIGN_FIX = _record(qr_uniform_q=True)
IMPLEMENTATION = NO_SIGN_FIX
