"""Google's TensorFlow Model Garden (``tf-models-official`` 2.20.0, PyPI, CPU) as implementations
under test: ``official/nlp/modeling/layers/kernel_attention.py``, the Performer authors' code.

Install in its own venv: ``pip install torch==2.13.0 <this checkout>``, ``pip install
tensorflow-cpu==2.20.* tf-keras==2.20.*``, ``pip install --no-deps tf-models-official==2.20.0``,
``pip install gin-config scipy``. Run: ``python -m favor_suite.peers tf-model-garden``. Verdict:
``TF_MODEL_GARDEN_VERDICT.md``. Line numbers refer to that file as installed (843 lines).

Records, one per ``feature_transform`` a user picks for softmax attention: ``EXP`` (``"exp"``,
the default and the paper's positive features) and ``EXPMOD`` (``"expmod"``). ``"expplus"``
(FAVOR++) is not mapped: it computes its GERF parameter A from the statistics of *both* q and k
(l. 352-465, ``other_data``), so no feature map of x alone with a given A exists to call, and
the suite's ``gerf`` capability (``gerf_a`` given by the caller) does not fit it.

Tensors cross the boundary through numpy: torch → ``tf.constant`` (float32) → numpy → torch.
``KernelAttention`` computes in float32 only: its projection is a float32 ``TensorArray``
(l. 297) and ``_generalized_kernel`` divides by ``tf.cast(m, tf.float32)`` (l. 348-349), so a
float64 tensor raises ``TypeError``. A Keras layer autocasts floating inputs to its compute dtype
(float32) in ``__call__``; the adapter does the same at the boundary, declares
``compute_precision`` float32 for float64 inputs, and returns the result in the input dtype.

``sample_projection``
    ``create_projection_matrix(m, d, seed)`` (l. 280-323) with a stateless seed ``[s0, s1]`` drawn
    from the suite's generator — the path ``KernelAttention.__init__`` takes (l. 623-626): QR per
    d×d block without a sign fix (l. 314), χ_d norms from ``stateless_normal`` at the seed after the
    last block (l. 321-322). ``orthogonal=False``: the library has no iid sampler, so
    ``tf.random.stateless_normal((m, d), seed)`` — TF's primitive, not library code. No fixed norms.
``feature_map(x, w, kind="positive")``
    ``_TRANSFORM_MAP[transform](x, x, False, w)``, i.e. ``_generalized_kernel`` with the
    transform's f and h (l. 326-349, 484-501): h(x)·exp(ωᵀx − M)/√m with M = max of ωᵀx over the
    axes [1, 2, 3] (tokens, heads, features) of each batch element. That one scalar e^(−M) per call
    slice cancels in attention; as in ``performer_pytorch.py`` it is multiplied back (M from the
    library's own einsum and ``reduce_max``, in float64 so that e^M cannot overflow), so the
    kernel tests see h(x)·exp(ωᵀx)/√m. ``[..., N, d]`` → ``[B, N, 1, d]`` (``BTNH``).
``attention(q, k, v, w, kind="positive", causal, key_mask)``
    ``KernelAttention._compute_attention`` (l. 636-728) — the attention core that ``call`` runs
    after its dense projections, and the method the docstring invites users to override — on
    ``[B, L, 1, d]`` tensors, ``is_short_seq=False``, ``training=False``, with the layer's
    ``_projection_matrix`` set to ``w``; the layer scales q and k by d^(-1/4) itself (l. 696-697).
    Bidirectional: the kv / denominator path (l. 721-727). Causal: KernelAttention has no plain
    causal mode, only ``use_causal_windowed`` (chunks attend bidirectionally inside, causally
    across). A user who wants causal attention sets ``causal_chunk_length=1`` and a window of at
    least L chunks, ``causal_window_length=L``: then ``causal_windowed_performer_attention``
    (l. 157-255) is exact prefix-sum causal attention, and that is what is mapped.
    ``key_mask`` → ``attention_mask`` as float32 ``[B, L]`` (what ``KernelMask`` makes, l. 39-41),
    which multiplies ``key_prime`` (l. 707-708): masked keys leave numerator and normalizer.
Flags: float64 (computed in float32) and float32; no autograd through the boundary (TF's tape
is not torch's); ``torch_ops`` and ``flop_countable`` False: the cost audits watch torch's
dispatcher, which TensorFlow's ops bypass; no input validation; no block-length option (``causal_chunk_length`` changes
the mask, not only the blocking); no GERF. No known deviations are declared.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import functools

import numpy as np
import tensorflow as tf
import torch
from official.nlp.modeling.layers import kernel_attention as ka

from favor_suite.implementation import Implementation, Precision
from favor_suite.peers import Finding, Match

__all__ = ["EXP", "EXPMOD", "FINDINGS"]

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

_FLOAT32 = Precision(torch.float32, torch.float32)


def _tf(x: torch.Tensor) -> tf.Tensor:
    """torch → TF float32, as a Keras layer's autocast does."""
    return tf.constant(x.detach().cpu().numpy().astype(np.float32))


def _torch(x: tf.Tensor | np.ndarray, like: torch.Tensor) -> torch.Tensor:
    array = x.numpy() if isinstance(x, tf.Tensor) else x
    return torch.from_numpy(np.ascontiguousarray(array)).to(device=like.device, dtype=like.dtype)


def sample_projection(m: int, d: int, *, orthogonal: bool, norms: str, generator: torch.Generator) -> torch.Tensor:
    """ω ``[m, d]`` float32 from ``create_projection_matrix`` with a seed drawn from ``generator``."""
    if norms != "chi":
        raise ValueError(f"TF Model Garden draws χ_d norms only, got norms={norms!r}")
    s0, s1 = torch.randint(-(2**31), 2**31 - 1, (2,), generator=generator, device=generator.device).tolist()
    seed = tf.constant([s0, s1], dtype=tf.int32)
    w = ka.create_projection_matrix(m, d, seed) if orthogonal else tf.random.stateless_normal((m, d), seed=seed)
    return torch.from_numpy(w.numpy()).to(generator.device)


def _check_kind(kind: str) -> None:
    if kind != "positive":
        raise ValueError(f"KernelAttention's exp transforms are positive features only, got kind={kind!r}")


def _feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str, transform: str) -> torch.Tensor:
    _check_kind(kind)
    lead = x.shape[:-1] if x.dim() > 1 else (1,)
    data = _tf(x.reshape(-1, lead[-1], 1, x.shape[-1]))  # [B, T, N=1, H=d]
    w = _tf(projection)
    phi = ka._TRANSFORM_MAP[transform](data, data, False, w)
    # e^M back: M as f forms it (l. 488-489 / 497-498), the einsum of l. 347.
    stab = tf.math.reduce_max(tf.einsum("BTNH,MH->BTNM", data, w), axis=[1, 2, 3], keepdims=True)
    out = phi.numpy().astype(np.float64) * np.exp(stab.numpy().astype(np.float64))
    out = torch.from_numpy(out).to(x.device).reshape(*lead, out.shape[-1])
    return out if x.dim() > 1 else out[0]


@functools.lru_cache(maxsize=64)
def _layer(transform: str, d: int, m: int, causal: bool, length: int) -> ka.KernelAttention:
    """One KernelAttention per configuration (its own projection is replaced on every call)."""
    options = {"use_causal_windowed": True, "causal_chunk_length": 1, "causal_window_length": length} if causal else {}
    return ka.KernelAttention(
        num_heads=1, key_dim=d, feature_transform=transform, num_random_features=m, seed=0, **options
    )


def _attention(q, k, v, projection, *, kind: str, causal: bool, key_mask, transform: str) -> torch.Tensor:
    _check_kind(kind)
    batch, length, d = q.shape[:-2], q.shape[-2], q.shape[-1]
    q4, k4, v4 = (_tf(t.reshape(-1, t.shape[-2], 1, t.shape[-1])) for t in (q, k, v))
    layer = _layer(transform, d, projection.shape[0], causal, length)
    layer._projection_matrix = _tf(projection)
    mask = None if key_mask is None else tf.constant(key_mask.reshape(-1, k.shape[-2]).cpu().numpy().astype(np.float32))
    out = layer._compute_attention(q4, k4, v4, transform, False, attention_mask=mask, training=False)
    return _torch(out, q).reshape(*batch, length, v.shape[-1])


def _record(transform: str) -> Implementation:
    def feature_map(x: torch.Tensor, projection: torch.Tensor, *, kind: str) -> torch.Tensor:
        return _feature_map(x, projection, kind=kind, transform=transform)

    def attention(q, k, v, projection, *, kind: str, causal: bool, key_mask=None) -> torch.Tensor:
        return _attention(q, k, v, projection, kind=kind, causal=causal, key_mask=key_mask, transform=transform)

    return Implementation(
        name=f"tf-model-garden[{transform}]",
        sample_projection=sample_projection,
        feature_map=feature_map,
        attention=attention,
        feature_kinds=("positive",),
        orthogonal=True,
        fixed_norms=False,
        causal=True,
        key_mask=True,
        dtypes=(torch.float64, torch.float32),
        autograd=False,
        input_validation=False,
        chunk_option=None,
        gerf=False,
        flop_countable=False,  # TensorFlow's matmuls are not torch ops:
        torch_ops=False,  # the dispatch-level cost audits cannot see them
        compute_precision={torch.float64: _FLOAT32, torch.float32: _FLOAT32},
        known_deviations={},
    )


EXP = _record("exp")
EXPMOD = _record("expmod")
IMPLEMENTATION = EXP


# ---------------------------------------------------------------------------- findings (data)
_KA = "official/nlp/modeling/layers/kernel_attention.py"

FINDINGS = (
    Finding(
        "A",
        "QR without the sign fix: directions Haar only up to sign",
        (f"{_KA}:314", f"{_KA}:315"),
        "`create_projection_matrix` takes `tf.linalg.qr`'s Q as it comes and transposes it (l. 314-315), without "
        "Q ← Q·diag(sign diag R) (MATH 10): each block's row r has a fixed-sign r-th coordinate, at d = 1 every ω is "
        "+χ_1. The norms are independent χ_d draws at a fresh seed (l. 321-322), so this is the sampler's only "
        "defect — and the positive map exp(ωᵀx) is one-sided, so it biases the kernel estimate (an even map such as "
        "cosh would not be biased by it).",
        (
            Match("projections::test_coordinates_and_norms_follow_the_gaussian_law*orthogonal*"),
            Match("kernel_estimator::test_kernel_estimate_is_unbiased*orthogonal*"),
            Match("kernel_estimator::test_kernel_estimate_variance_matches_closed_form*orthogonal*"),
            Match("kernel_estimator::test_kernel_matrix_error_falls_as_one_over_m*orthogonal*"),
            Match("kernel_estimator::test_orthogonal_features_have_less_variance_than_iid*"),
            Match("attention_statistics::test_8192_orthogonal_features*"),
        ),
        "d = 1, 40 000 draws: P(ω > 0) = 1.000, mean ‖ω‖ = 0.798 = E χ_1; E[exp(ωz)]/e^(1/2) − 1 = +68 % while "
        "E[cosh(ωz)] is unbiased (−0.1 %).",
    ),
    Finding(
        "B",
        "eps = 1e-6 in the normalizer, after a stabilizer that shrinks D",
        (f"{_KA}:725", f"{_KA}:251", f"{_KA}:488"),
        "Both paths divide by `Q·ΣK + 1e-6` (`_NUMERIC_STABLER`, l. 23; bidirectional l. 723-725, causal windowed "
        "l. 251) while the numerator has no such term: outputs are N/(D + 1e-6). The `exp` transform's f subtracts "
        "M = the max of ωᵀx over all tokens, heads and features of a batch element (l. 488-489) from queries and keys "
        "alike, so D carries e^(−M_q−M_k) and the 1e-6 weighs e^(M_q+M_k) times more than it appears. M grows with "
        "m (a max over L·m Gaussians), so *more* features make it worse. A causal row whose keys are all masked "
        "returns 0 (0/(0 + 1e-6)) instead of being undefined.",
        (
            Match("attention_identities::test_linear_time_equals_quadratic_on_the_same_features*"),
            Match("attention_identities::test_output_rows_lie_in_the_convex_hull_of_the_values*"),
            Match("attention_identities::test_bidirectional_attention_is_permutation_equivariant*"),
            Match("attention_identities::test_batch_and_head_slices_are_independent*"),
            Match("causality::test_padding_mask_equals_truncation*"),
            Match("numerics::test_low_precision_matches_float64_on_the_same_features*"),
            Match("numerics::test_long_sequences_in_low_precision_keep_every_token*causal*"),
        ),
        "d = 4, L = 6, m = 4096, q, k ~ N(0, I): M_q ≈ 7-8 per batch; the attention differs from D̂⁻¹ÂV on the "
        "library's own features by 0.60 (outputs of size ~1); with `_NUMERIC_STABLER = 0` (diagnostic) by 2.6e-7, "
        "float32 rounding. L = 1: output −1.084521174 for v = −1.084522342. Long causal sequences (L ≈ 1000-2200): "
        "row 0 has one key, so D is one stabilized product and 1e-6/D exceeds float32 rounding there (bidirectional "
        "rows sum L keys and pass); with `_NUMERIC_STABLER = 0` the same examples pass.",
    ),
    Finding(
        "C",
        "The stabilizer's max runs over all tokens, future ones included",
        (f"{_KA}:488", f"{_KA}:497"),
        "M (cause B) is a max over the whole sequence; in the causal (windowed) path the key features of past tokens "
        "therefore depend on future keys: through the 1e-6 the past outputs move when the future changes, a large "
        "future key underflows every past key's feature in float32 (past outputs → 0), and a NaN anywhere makes M, "
        "hence every output, NaN.",
        (
            Match("causality::test_future_tokens_do_not_change_past_outputs*"),
            Match("causality::test_masking_future_keys_does_not_change_past_outputs*"),
            Match("causality::test_nan_reaches_exactly_its_dependents*"),
        ),
    ),
    Finding(
        "D",
        "h(x) = exp(−‖x‖²/2) is not stabilized: float32 underflow gives a silent 0",
        (f"{_KA}:490", f"{_KA}:348"),
        "The `exp` transform multiplies exp(ωᵀx − M) by h(x) = exp(−‖x‖²/2) computed on its own (l. 490-491), in "
        "float32: for ‖x̃‖²/2 ≳ 87 (103 with subnormals) h is 0, every feature is 0, and the output is "
        "0/(0 + 1e-6) = 0 — a finite, wrong number. (The suite's reference, built on the library's own float32 "
        "features, is then 0/0 = NaN: hence the 'NaN pattern' headline.) MATH 19: the stabilizer must absorb "
        "‖x̃‖²/2 too.",
        (
            Match("attention_identities::test_stabilization_cancels_where_plain_float32_would_underflow*"),
            Match("numerics::test_outputs_and_gradients_are_finite_in_the_claimed_range*"),
        ),
    ),
    Finding(
        "E",
        "expmod: h is the constant exp(−√d/2), not exp(−‖x‖²/2)",
        (f"{_KA}:499", f"{_KA}:500"),
        "`expmod` uses h(x) = exp(−½·√d) (l. 499-500), so E[φ(x)ᵀφ(y)] = exp(‖x + y‖²/2 − √d) = "
        "SM(x, y)·exp((‖x‖² + ‖y‖²)/2 − √d): not an estimate of the softmax kernel unless ‖x‖² + ‖y‖² = 2√d. In "
        "attention the query factor cancels but the key factor does not: each key is weighted by e^(‖k̃‖²/2), so "
        "`expmod` estimates softmax(q̃ᵀk̃ + ‖k̃‖²/2)·V, not softmax attention (unless all keys have one norm).",
        tuple(
            Match(test, records="tf-model-garden[expmod]")
            for test in (
                "features::*",
                "kernel_estimator::*",
                "attention_statistics::*",
            )
        ),
    ),
    Finding(
        "F",
        "The causal windowed path materialises per-position states",
        (f"{_KA}:230", f"{_KA}:236", f"{_KA}:101"),
        "With `causal_chunk_length=1` (the only exact causal setting), `kp_v = einsum('BTCHD,BTCHO->BTHDO')` is a "
        "`[B, L, H, m, dv]` tensor and `rectangular_window_sum` takes its cumsum and a padded copy (l. 101-119): "
        "O(L·m·dv) memory. Longer chunks shrink it but make attention inside a chunk bidirectional (not causal).",
        (Match("cost::*causal*"),),
    ),
    Finding(
        "G",
        "float32 only",
        (f"{_KA}:297", f"{_KA}:348", f"{_KA}:349"),
        "The projection is a float32 `TensorArray` (l. 297) and `_generalized_kernel` divides by `tf.cast(m, "
        "tf.float32)` (l. 348-349): a float64 tensor raises `TypeError: x and y must have the same dtype`. The "
        "adapter autocasts to float32 as a Keras layer does and declares float32 compute precision for float64 "
        "inputs; a property whose allowance is not derived from the declared precision fails by float32 rounding "
        "(a suite issue, reported, not a library defect).",
        (),
    ),
)
