"""lucidrains' ``performer-pytorch`` 1.1.4 (PyPI, CPU) as an implementation under test (issue 5).

Install: ``pip install performer-pytorch==1.1.4`` (it pulls einops, local-attention and
axial-positional-embedding; it leaves an installed torch ≥ 1.6 alone). Run:
``pytest --favor-impl=favor_suite.adapters.performer_pytorch``. Verdict and reasons:
``PERFORMER_PYTORCH_VERDICT.md`` beside this file.

Every capability calls the library's own functions in ``performer_pytorch.performer_pytorch``;
nothing of its behaviour is corrected. Mapping decisions (the only code of ours is reshaping,
RNG seeding and the one scalar undone in ``feature_map``):

``sample_projection``
    ``orthogonal=True`` → ``gaussian_orthogonal_random_matrix(m, d, scaling=...)``, the sampler
    ``FastAttention`` uses: ``norms="chi"`` → ``scaling=0`` (row norms are the norms of fresh
    Gaussian rows, i.e. χ_d), ``norms="fixed"`` → ``scaling=1`` (√d). Its QR has no sign fix
    (MATH 10); that is left as is.
    ``orthogonal=False``: the library has *no* unstructured sampler (``FastAttention`` always draws
    orthogonal blocks). The protocol requires iid rows of every ``sample_projection``, so we draw
    ``torch.randn((m, d))`` from the same seeded global RNG — the primitive the library draws with
    (line 159). This is not library code: the ``[iid]`` projection-law test then checks torch, and
    the iid kernel-estimator tests check the library's ``softmax_kernel`` only.
    The library draws from torch's *global* RNG and has no generator argument, so the global RNG
    is seeded from ``generator`` (one 62-bit draw per call) inside ``torch.random.fork_rng``, which
    restores the global state afterwards. The library draws in torch's default dtype; we set it to
    float64 for the call (a user can do the same), so the suite's float64 orthogonality bound
    measures the algorithm, not float32 rounding.
``feature_map(x, w, kind="positive")``
    ``softmax_kernel(x, projection_matrix=w, is_query=False, normalize_data=False)``: the key-side
    map, with the library's own switch for "x as given" (no d^(-1/4)). The key-side map is used
    because its stabilizer — the max of ωᵀx over *all* tokens and features of a ``[b, h]`` slice
    (line 113) — is the one whose effect reaches across tokens; the query-side map (per-row max)
    is a pure per-token function and would hide that. That stabilizer multiplies every feature of
    the call by one scalar e^(−M), which cancels in attention and makes φ(x)ᵀφ(y) ≈ e^(−2M)·SM, a
    kernel estimate only up to an unknown scale. We multiply that one scalar back (M recomputed by
    the library's own einsum and amax, so bit-identical to line 113), giving
    φ_r(x) = m^(−1/2)·(exp(ω_rᵀx − ‖x‖²/2) + 1e-4·e^M): the additive eps, its dependence on M (hence
    on the other tokens in the call) and the ratio m^(−1/2) are exactly the library's.
    Inputs ``[..., N, d]`` become the library's ``[B, 1, N, d]`` (leading dims flattened into b, so
    the stabilizer is taken per leading slice, as in ``attention``); ``[d]`` becomes ``[1, 1, 1, d]``.
    Only ``"positive"``: ``generalized_kernel`` (ReLU(ωᵀx̃) + 1e-3) is not one of the suite's kinds.
``attention(q, k, v, w, kind="positive", causal, key_mask=None)``
    Exactly ``FastAttention.forward`` (lines 268-273) with its projection buffer = ``w``:
    ``softmax_kernel(q, is_query=True)``, ``softmax_kernel(k, is_query=False)`` (default
    ``normalize_data=True``: the library applies d^(-1/4) itself, as the protocol expects), then
    ``linear_attention`` or, for ``causal=True``, ``causal_linear_attention_noncuda`` with its
    defaults (the fallback ``FastAttention`` picks when the EPFL CUDA kernel is absent, as on CPU).
    ``[*batch, L, d]`` becomes ``[B, 1, L, d]``. ``FastAttention`` has no key mask (the wrapping
    ``Attention`` module only zeroes masked values, line 428, which leaves them in the normalizer),
    so ``key_mask`` is not offered and a mask raises.
Flags: all four float dtypes run; the library computes in the input dtype, no upcast, and the
record declares so (``compute_precision``; the suite still holds sums over the sequence to fp32); backward
works (the stabilizers are ``detach``ed); no input validation; no block-length option
(``causal_linear_attention_noncuda(chunk_size=128)`` is a chunk *count* and ``FastAttention`` does
not expose it); no GERF. No known deviations are declared: every failure is reported.
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

__all__ = ["IMPLEMENTATION", "attention", "feature_map", "sample_projection"]

_SCALING = {"chi": 0, "fixed": 1}


def sample_projection(m: int, d: int, *, orthogonal: bool, norms: str, generator: torch.Generator) -> torch.Tensor:
    """ω ``[m, d]``: the library's orthogonal sampler, or iid N(0, I_d) (not library code, see above)."""
    if norms not in _SCALING:
        raise ValueError(f"norms must be 'chi' or 'fixed', got {norms!r}")
    if not orthogonal and norms != "chi":
        raise ValueError("fixed norms are only defined for orthogonal projections")
    device = generator.device
    # The library draws from the global RNG; seed it from the suite's generator and restore it after.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    forked = [device.index or 0] if device.type == "cuda" else []
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        torch.set_default_dtype(torch.float64)
        try:
            if orthogonal:
                return gaussian_orthogonal_random_matrix(m, d, scaling=_SCALING[norms], device=device)
            return torch.randn((m, d), device=device)
        finally:
            torch.set_default_dtype(previous)


def _as_heads(x: torch.Tensor) -> torch.Tensor:
    """``[..., N, d]`` → the library's ``[b, h, N, d]`` with b = prod(leading dims), h = 1."""
    if x.dim() == 1:
        x = x[None]
    return x.reshape(-1, 1, *x.shape[-2:])


def _check_kind(kind: str) -> None:
    if kind != "positive":
        raise ValueError(f"performer-pytorch has only the positive softmax kernel, got kind={kind!r}")


def feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str) -> torch.Tensor:
    """φ(x) ``[..., N, m]`` for x ``[..., N, d]`` as given: the library's key-side softmax_kernel with
    its global stabilizer scalar e^(−M) multiplied back (see the module docstring)."""
    _check_kind(kind)
    data = _as_heads(x)
    phi = softmax_kernel(data, projection_matrix=projection, is_query=False, normalize_data=False)
    # M exactly as softmax_kernel forms it (lines 97-100 and 113, data_normalizer = 1).
    proj = repeat(projection, "j d -> b h j d", b=data.shape[0], h=data.shape[1]).type_as(data)
    data_dash = torch.einsum("...id,...jd->...ij", data, proj)
    stabilizer = torch.amax(data_dash, dim=(-1, -2), keepdim=True).detach()
    phi = phi * torch.exp(stabilizer)
    lead = x.shape[:-1] if x.dim() > 1 else (1,)
    out = phi.reshape(*lead, phi.shape[-1])
    return out if x.dim() > 1 else out[0]


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    projection: torch.Tensor,
    *,
    kind: str,
    causal: bool,
    key_mask: torch.Tensor | None,
) -> torch.Tensor:
    """``FastAttention.forward`` on ``[*batch, L, d]`` inputs with projection ``w``: ``[*batch, L, dv]``."""
    _check_kind(kind)
    if key_mask is not None:
        raise NotImplementedError("performer-pytorch's FastAttention has no key mask")
    q4, k4, v4 = (_as_heads(t) for t in (q, k, v))
    q_features = softmax_kernel(q4, projection_matrix=projection, is_query=True)
    k_features = softmax_kernel(k4, projection_matrix=projection, is_query=False)
    attn_fn = causal_linear_attention_noncuda if causal else linear_attention
    out = attn_fn(q_features, k_features, v4)
    return out.reshape(*q.shape[:-1], out.shape[-1])


IMPLEMENTATION = Implementation(
    name="performer-pytorch",
    sample_projection=sample_projection,
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
    compute_precision={
        torch.float64: Precision(torch.float64, torch.float64),
        torch.float32: Precision(torch.float32, torch.float32),
        torch.bfloat16: Precision(torch.bfloat16, torch.bfloat16),
        torch.float16: Precision(torch.float16, torch.float16),
    },
    known_deviations={},
)
