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


# ---------------------------------------------------------------------------- findings (data)
_LIB = "performer_pytorch/performer_pytorch.py"

FINDINGS = (
    Finding(
        "A",
        "QR without the sign fix (qr_uniform_q=False, the default)",
        (f"{_LIB}:95", f"{_LIB}:100", f"{_LIB}:103"),
        "`orthogonal_matrix_chunk` takes `torch.qr`'s Q as it comes and applies Q ← Q·diag(sign diag R) only when "
        "`qr_uniform_q=True` (l. 100-102). Without it the directions are Haar only up to sign (row r's r-th "
        "coordinate is never positive; at d = 1 every ω is +χ_1). The norms are independent χ_d draws (l. 122), so "
        "this is the sampler's only defect, and it biases the one-sided positive map exp(ωᵀx): low where x + y "
        "points along a row's own axis. With `qr_uniform_q=True` the same code passes these properties.",
        tuple(
            Match(test, records="tikt-performer[no-sign-fix]")
            for test in (
                "projections::test_coordinates_and_norms_follow_the_gaussian_law*orthogonal*",
                "kernel_estimator::test_kernel_estimate_is_unbiased*orthogonal*",
                "kernel_estimator::test_kernel_estimate_variance_matches_closed_form*orthogonal*",
                "kernel_estimator::test_kernel_matrix_error_falls_as_one_over_m*orthogonal*",
                "kernel_estimator::test_fixed_norms_have_the_smreg_signature*",
                "kernel_estimator::test_orthogonal_features_have_less_variance_than_iid*",
                "attention_statistics::test_8192_orthogonal_features*",
            )
        ),
        "200 calls at d = m = 1: every ω > 0 without the fix, 57.5 % with it.",
    ),
    Finding(
        "B",
        "Additive eps = 1e-4 after the stabilizer; the key max runs over the whole tensor",
        (f"{_LIB}:50", f"{_LIB}:69", f"{_LIB}:73"),
        "`ratio·(exp(ωᵀx̃ − ‖x̃‖²/2 − max) + eps)` with eps = 1e-4 adds a floor whose weight relative to the kernel is "
        "e^max: a per-row max for queries (l. 69-70), and for keys `torch.max(data_dash)` — one max over every batch "
        "element, head, token and feature of the call (l. 73; performer-pytorch 1.1.4 at least keeps it per `[b, h]`). "
        "So features are biased (the estimate rises by about 2·eps·e^M), differ between queries and keys, and a key's "
        "feature depends on every other key *and every other batch element*; the `.detach()`-free max still does not "
        "cancel in the gradient. N̂ and D̂ formed from these features are biased by the same floor, so their means "
        "miss Σ_j A_ij V_j — by more where M, taken over the whole call, is large against a row's own ωᵀx.",
        (
            Match("features::test_positive_log_features_are_gaussian*"),
            Match("attention_statistics::test_numerator_and_normalizer_follow_their_exact_law*"),
            Match("kernel_estimator::test_entry_does_not_depend_on_other_tokens*"),
            Match("kernel_estimator::*", r"zero closed-form variance"),
            Match("attention_identities::*"),
            Match("numerics::test_gradcheck_in_float64*"),
            Match("numerics::test_gradients_match_float64_on_the_same_features*"),
            Match("numerics::test_long_sequences_in_low_precision_keep_every_token*float32*"),
            Match("kernel_estimator::*", r"kernel estimate|Â_ij|closed form"),
            Match("causality::test_nan_reaches_exactly_its_dependents*", r"bidirectional|max error"),
        ),
        "x = y = 0: ln(n·φ_r(x)φ_r(y)) = ln((1 + 1e-4)²) = 2.0e-4 on every row instead of 0 (closed form checked to "
        "2e-16 against the adapter). iid kernel mean at s ≈ 0: +0.020 % = (1 + 1e-4)² − 1. With `softmax_kernel`'s "
        "eps set to 0 (diagnostic), all 14 cases of the float64/float32 gradient and long-sequence tests pass, "
        "and so does the exact law of N̂ and D̂ in both modes.",
    ),
    Finding(
        "C",
        "The key max includes future keys in the causal path",
        (f"{_LIB}:73", f"{_LIB}:165"),
        "The causal path (`causal_linear_attention_noncuda`, l. 165-171) gets key features stabilized by a max over "
        "all keys, future ones included; through the eps floor (B) that max changes the weights of past keys, a "
        "large future key pushes every past key onto the floor, and a NaN future key makes every row NaN.",
        (
            Match("causality::test_future_tokens_do_not_change_past_outputs*"),
            Match("causality::test_nan_reaches_exactly_its_dependents*"),
        ),
    ),
    Finding(
        "D",
        "Half precision computed in half precision",
        (f"{_LIB}:60", f"{_LIB}:73", f"{_LIB}:135"),
        "Every op from the projection to the normalizer runs in the input dtype (`type_as(data)`), with no fp32 "
        "accumulation; features on the eps floor give query-key products (1e-4·m^(−1/2))² below fp16's smallest "
        "subnormal, so D = 0 and the output is NaN.",
        (
            Match("numerics::test_low_precision_matches_float64_on_the_same_features*"),
            Match("numerics::test_outputs_and_gradients_are_finite_in_the_claimed_range*"),
        ),
    ),
    Finding(
        "E",
        "Per-position prefix states materialised in the causal path",
        (f"{_LIB}:168", f"{_LIB}:169"),
        "`causal_linear_attention_noncuda` forms `context = einsum('...nd,...ne->...nde', k, v)` — a "
        "`[b, h, L, m, dv]` "
        "tensor — and its `cumsum` over L: O(L·m·dv) memory in one tensor (no chunking, unlike 1.1.4). FastAttention "
        "uses this path whenever the CUDA kernel is absent (l. 194-200), i.e. on every CPU.",
        (Match("cost::*causal*"),),
    ),
    Finding(
        "F",
        "The orthogonal sampler allocates an m×m matrix",
        (f"{_LIB}:128",),
        "`torch.diag(multiplier) @ final_matrix` builds an m×m diagonal matrix: O(m²) memory and time.",
        (Match("*", r"(?i)out of memory|can't allocate|DefaultCPUAllocator"),),
    ),
)
