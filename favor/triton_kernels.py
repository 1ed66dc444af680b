"""Triton kernels of FAVOR+ attention: positive features computed per tile, chunked scans over L.

The readable reference is :func:`favor.attention.favor_attention`; these kernels compute the same
quantities tile by tile, never writing a feature matrix to memory:

* key logits a_jr = k̃_jᵀω_r − ‖k̃_j‖²/2 and query logits b_ir = q̃_iᵀω_r, from a ``[C, d] × [d, m]``
  product and an exp per tile (MATH 3; q̃ = d^(-1/4)q is folded into ω on the host);
* query features exp(b_ir − max_r b_ir): the per-row scale cancels (MATH 19);
* key features against a running reference M_j = max_{j' ≤ j, kept} max_r a_j'r, so nothing
  future-dependent enters a past output (MATH 19): query i sees key j ≤ i with weight
  exp(a_jr − M_i) = exp(a_jr − M_j)·exp(M_j − M_i) ≤ 1;
* the causal scan in fla's chunked form ([P] eq. 11, MATH 30): per tile of C positions, an
  intra-tile product masked to j ≤ i, plus the carried state S = Σ φ(k_j)[v_j]ᵀ, z = Σ φ(k_j),
  rescaled whenever the reference grows; bidirectional attention is the same state over all keys
  (its final reference is the max over all keys) followed by a query pass.

Non-finite inputs are zeroed for the arithmetic, and the outputs that depend on them are set to NaN
in the kernel with favor's rule: query i → row i; key j or value (j, c) → rows ≥ j (causal) or all
rows, column c for a value; masked keys → nothing. Products use ``PRODUCTS`` operands (``ACC``, or
bf16 on tensor cores) and sums accumulate in ``ACC`` (fp32, or fp64 for fp64 inputs);
``INTERPRETED`` selects exact emulations for Triton's CPU interpreter, whose bf16 matmul and
fp32→bf16 cast are unusable (the dot multiplies raw bit patterns, the cast truncates).

Shapes: one program owns one flattened batch-head row ``bh`` and a block of BV value columns;
``q, k: [BH, L, d]``, ``v: [BH, L, dv]`` (any strides), ``w: [m, d]`` in ACC, contiguous (already
multiplied by d^(-1/4)), ``keep: [BH, L]`` uint8. Segment states ``[BH, NS, m, dv]`` in ACC.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["causal_kernel", "query_kernel", "segment_state_kernel"]


@triton.jit
def _round(x, ACC: tl.constexpr, PRODUCTS: tl.constexpr, INTERPRETED: tl.constexpr):
    """x (in ACC) rounded to nearest-even in PRODUCTS, returned in ACC."""
    if PRODUCTS == ACC:
        out = x
    elif INTERPRETED and PRODUCTS == tl.bfloat16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        out = bits.to(tl.float32, bitcast=True)
    else:
        out = x.to(PRODUCTS).to(ACC)
    return out


@triton.jit
def _mm(a, b, ACC: tl.constexpr, PRODUCTS: tl.constexpr, INTERPRETED: tl.constexpr):
    """a @ b with both operands rounded to PRODUCTS, accumulated in ACC."""
    if PRODUCTS == ACC:
        out = tl.dot(a, b, input_precision="ieee")
    elif INTERPRETED:
        out = tl.dot(
            _round(a, ACC, PRODUCTS, INTERPRETED), _round(b, ACC, PRODUCTS, INTERPRETED), input_precision="ieee"
        )
    else:
        out = tl.dot(a.to(PRODUCTS), b.to(PRODUCTS))
    return out


@triton.jit
def _load_rows(ptr, rows, row_end, stride_l, cols, width, stride_c, ACC: tl.constexpr):
    """A tile of rows × cols in ACC (0 outside), its non-finite entries zeroed, and the mask of them."""
    inside = (rows[:, None] < row_end) & (cols[None, :] < width)
    raw = tl.load(ptr + rows[:, None] * stride_l + cols[None, :] * stride_c, mask=inside, other=0.0).to(ACC)
    finite = tl.abs(raw) < float("inf")
    return tl.where(finite, raw, 0.0), (~finite).to(tl.int32)


@triton.jit
def _omega_t(w_ptr, d, m, D_PAD: tl.constexpr, M_PAD: tl.constexpr):
    """ωᵀ, ``[D_PAD, M_PAD]`` in the dtype of w, zero-padded."""
    dims = tl.arange(0, D_PAD)
    feats = tl.arange(0, M_PAD)
    inside = (dims[:, None] < d) & (feats[None, :] < m)
    return tl.load(w_ptr + feats[None, :] * d + dims[:, None], mask=inside, other=0.0)


@triton.jit
def _key_tile(
    k_ptr,
    keep_ptr,
    rows,
    row_end,
    stride_kl,
    stride_kd,
    stride_keep,
    omega_t,
    d,
    m,
    D_PAD: tl.constexpr,
    M_PAD: tl.constexpr,
    HAS_MASK: tl.constexpr,
    ACC: tl.constexpr,
    PRODUCTS: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """Key logits a ``[C, M_PAD]`` (−∞ in padded features), each row's max c (−∞ for keys that do
    not take part), the take-part mask, and the rows holding a non-finite entry."""
    k, bad = _load_rows(k_ptr, rows, row_end, stride_kl, tl.arange(0, D_PAD), d, stride_kd, ACC)
    keep = rows < row_end
    if HAS_MASK:
        keep = keep & (tl.load(keep_ptr + rows * stride_keep, mask=keep, other=0) != 0)
    half_s2 = 0.5 / tl.sqrt(tl.zeros((), ACC) + d)  # ‖k̃‖²/2 = ‖k‖²/(2√d)
    a = _mm(k, omega_t, ACC, PRODUCTS, INTERPRETED) - half_s2 * tl.sum(k * k, axis=1)[:, None]
    a = tl.where(tl.arange(0, M_PAD)[None, :] < m, a, float("-inf"))
    c = tl.where(keep, tl.max(a, axis=1), float("-inf"))
    return a, c, keep, tl.max(bad, axis=1)


@triton.jit
def _query_features(
    q_ptr,
    rows,
    row_end,
    stride_ql,
    stride_qd,
    omega_t,
    d,
    m,
    D_PAD: tl.constexpr,
    M_PAD: tl.constexpr,
    ACC: tl.constexpr,
    PRODUCTS: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """exp(b_ir − max_r b_ir) ``[C, M_PAD]`` (0 in padded features) and the rows holding a non-finite entry."""
    q, bad = _load_rows(q_ptr, rows, row_end, stride_ql, tl.arange(0, D_PAD), d, stride_qd, ACC)
    b = _mm(q, omega_t, ACC, PRODUCTS, INTERPRETED)
    b = tl.where(tl.arange(0, M_PAD)[None, :] < m, b, float("-inf"))
    return tl.exp(b - tl.max(b, axis=1)[:, None]), tl.max(bad, axis=1)


@triton.jit
def _absorb(state, norm, ref, a, c, keep, v, ACC: tl.constexpr, PRODUCTS: tl.constexpr, INTERPRETED: tl.constexpr):
    """Add a tile of keys to (S, z), both relative to reference ``ref``; returns them relative to
    the new reference max(ref, max_j c_j): S·exp(ref − new) + Σ_j exp(a_j − new)[v_j]ᵀ."""
    new = tl.maximum(ref, tl.max(c, axis=0))
    alive = new > float("-inf")
    shrink = tl.where(alive, tl.exp(ref - new), 0.0)
    feats = _round(tl.where(keep[:, None], tl.exp(a - new), 0.0), ACC, PRODUCTS, INTERPRETED)
    state = state * shrink + _mm(tl.trans(feats), v, ACC, PRODUCTS, INTERPRETED)
    norm = norm * shrink + tl.sum(feats, axis=0)
    return state, norm, new


@triton.jit
def _seed(
    s_ptr,
    z_ptr,
    ref_ptr,
    bad_ptr,
    seg,
    m,
    dv,
    cols,
    M_PAD: tl.constexpr,
    BV: tl.constexpr,
    HAS_SEED: tl.constexpr,
    ACC: tl.constexpr,
):
    """The state a segment starts from: zero, or the one stored for it at flat index ``seg``."""
    feats = tl.arange(0, M_PAD)
    if HAS_SEED:
        state = tl.load(
            s_ptr + (seg * m + feats[:, None]) * dv + cols[None, :],
            mask=(feats[:, None] < m) & (cols[None, :] < dv),
            other=0.0,
        )
        norm = tl.load(z_ptr + seg * m + feats, mask=feats < m, other=0.0)
        ref = tl.load(ref_ptr + seg)
        bad = tl.load(bad_ptr + seg * dv + cols, mask=cols < dv, other=0)
    else:
        state = tl.zeros((M_PAD, BV), ACC)
        norm = tl.zeros((M_PAD,), ACC)
        ref = tl.full((), float("-inf"), ACC)
        bad = tl.zeros((BV,), tl.int32)
    return state, norm, ref, bad


@triton.jit
def segment_state_kernel(
    k_ptr,
    v_ptr,
    keep_ptr,
    w_ptr,
    s_ptr,
    z_ptr,
    ref_ptr,
    bad_ptr,
    length,
    d,
    m,
    dv,
    segment,
    segments,
    stride_kb,
    stride_kl,
    stride_kd,
    stride_vb,
    stride_vl,
    stride_vd,
    stride_keepb,
    stride_keepl,
    C: tl.constexpr,
    D_PAD: tl.constexpr,
    M_PAD: tl.constexpr,
    BV: tl.constexpr,
    HAS_MASK: tl.constexpr,
    ACC: tl.constexpr,
    PRODUCTS: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """Grid ``(cdiv(dv, BV), segments, BH)``: the keys of positions [s·segment, (s+1)·segment)
    summed into S ``[m, dv]``, z ``[m]`` relative to their own final reference M (stored too), and
    the value columns that a non-finite kept key or value poisons (``bad``)."""
    pid_v, pid_s, bh = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    cols = pid_v * BV + tl.arange(0, BV)
    seg = bh * segments + pid_s
    start = pid_s * segment
    stop = tl.minimum(start + segment, length)
    k_ptr += bh * stride_kb
    v_ptr += bh * stride_vb
    keep_ptr += bh * stride_keepb
    omega_t = _omega_t(w_ptr, d, m, D_PAD, M_PAD)
    state, norm, ref, bad = _seed(s_ptr, z_ptr, ref_ptr, bad_ptr, seg, m, dv, cols, M_PAD, BV, False, ACC)
    for first in range(start, stop, C):
        rows = first + tl.arange(0, C)
        a, c, keep, bad_k = _key_tile(
            k_ptr,
            keep_ptr,
            rows,
            stop,
            stride_kl,
            stride_kd,
            stride_keepl,
            omega_t,
            d,
            m,
            D_PAD,
            M_PAD,
            HAS_MASK,
            ACC,
            PRODUCTS,
            INTERPRETED,
        )
        v, bad_v = _load_rows(v_ptr, rows, stop, stride_vl, cols, dv, stride_vd, ACC)
        state, norm, ref = _absorb(state, norm, ref, a, c, keep, v, ACC, PRODUCTS, INTERPRETED)
        bad += tl.sum(tl.where(keep[:, None], bad_k[:, None] | bad_v, 0), axis=0)
    feats = tl.arange(0, M_PAD)
    tl.store(
        s_ptr + (seg * m + feats[:, None]) * dv + cols[None, :], state, mask=(feats[:, None] < m) & (cols[None, :] < dv)
    )
    tl.store(bad_ptr + seg * dv + cols, bad, mask=cols < dv)
    if pid_v == 0:
        tl.store(z_ptr + seg * m + feats, norm, mask=feats < m)
        tl.store(ref_ptr + seg, ref)


@triton.jit
def causal_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    keep_ptr,
    w_ptr,
    out_ptr,
    s_ptr,
    z_ptr,
    ref_ptr,
    bad_ptr,
    length,
    d,
    m,
    dv,
    segment,
    segments,
    stride_qb,
    stride_ql,
    stride_qd,
    stride_kb,
    stride_kl,
    stride_kd,
    stride_vb,
    stride_vl,
    stride_vd,
    stride_keepb,
    stride_keepl,
    stride_ob,
    stride_ol,
    stride_od,
    C: tl.constexpr,
    D_PAD: tl.constexpr,
    M_PAD: tl.constexpr,
    BV: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_SEED: tl.constexpr,
    ACC: tl.constexpr,
    PRODUCTS: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """Grid ``(cdiv(dv, BV), segments, BH)``: causal outputs of positions [s·segment, (s+1)·segment),
    starting from the seed state of everything before the segment (``HAS_SEED``).

    Per tile, with M_i the running reference: out_i = (Σ_{j ≤ i in tile} φ_i·φ_j e^{M_j−M_i} v_j
    + e^{M_prev−M_i} φ_iᵀS) / (the same with v = 1), φ_j = exp(a_j − M_j) (MATH 19, 30)."""
    pid_v, pid_s, bh = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    cols = pid_v * BV + tl.arange(0, BV)
    start = pid_s * segment
    stop = tl.minimum(start + segment, length)
    q_ptr += bh * stride_qb
    k_ptr += bh * stride_kb
    v_ptr += bh * stride_vb
    keep_ptr += bh * stride_keepb
    out_ptr += bh * stride_ob
    omega_t = _omega_t(w_ptr, d, m, D_PAD, M_PAD)
    state, norm, ref, bad = _seed(
        s_ptr, z_ptr, ref_ptr, bad_ptr, bh * segments + pid_s, m, dv, cols, M_PAD, BV, HAS_SEED, ACC
    )
    lower = tl.arange(0, C)[:, None] >= tl.arange(0, C)[None, :]
    for first in range(start, stop, C):
        rows = first + tl.arange(0, C)
        qf, bad_q = _query_features(
            q_ptr, rows, stop, stride_ql, stride_qd, omega_t, d, m, D_PAD, M_PAD, ACC, PRODUCTS, INTERPRETED
        )
        a, c, keep, bad_k = _key_tile(
            k_ptr,
            keep_ptr,
            rows,
            stop,
            stride_kl,
            stride_kd,
            stride_keepl,
            omega_t,
            d,
            m,
            D_PAD,
            M_PAD,
            HAS_MASK,
            ACC,
            PRODUCTS,
            INTERPRETED,
        )
        v, bad_v = _load_rows(v_ptr, rows, stop, stride_vl, cols, dv, stride_vd, ACC)
        refs = tl.maximum(tl.max(tl.where(lower, c[None, :], float("-inf")), axis=1), ref)
        alive = refs > float("-inf")
        kf = tl.where(keep[:, None], tl.exp(a - refs[:, None]), 0.0)
        decay = tl.where(lower & alive[:, None], tl.exp(refs[None, :] - refs[:, None]), 0.0)
        scores = _round(_mm(qf, tl.trans(kf), ACC, PRODUCTS, INTERPRETED) * decay, ACC, PRODUCTS, INTERPRETED)
        carry = tl.where(alive, tl.exp(ref - refs), 0.0)
        qr = _round(qf, ACC, PRODUCTS, INTERPRETED)
        num = _mm(scores, v, ACC, PRODUCTS, INTERPRETED) + _mm(qr, state, ACC, PRODUCTS, INTERPRETED) * carry[:, None]
        den = tl.sum(scores, axis=1) + tl.sum(qr * _round(norm, ACC, PRODUCTS, INTERPRETED)[None, :], axis=1) * carry
        bad_kv = tl.where(keep[:, None], bad_k[:, None] | bad_v, 0)
        poisoned = ((tl.cumsum(bad_kv, axis=0) + bad[None, :]) > 0) | (bad_q[:, None] > 0)
        out = tl.where(poisoned, float("nan"), num / den[:, None])
        tl.store(
            out_ptr + rows[:, None] * stride_ol + cols[None, :] * stride_od,
            out.to(out_ptr.dtype.element_ty),
            mask=(rows[:, None] < stop) & (cols[None, :] < dv),
        )
        state, norm, ref = _absorb(state, norm, ref, a, c, keep, v, ACC, PRODUCTS, INTERPRETED)
        bad += tl.sum(bad_kv, axis=0)


@triton.jit
def query_kernel(
    q_ptr,
    w_ptr,
    s_ptr,
    z_ptr,
    bad_ptr,
    out_ptr,
    length,
    d,
    m,
    dv,
    segment,
    stride_qb,
    stride_ql,
    stride_qd,
    stride_ob,
    stride_ol,
    stride_od,
    C: tl.constexpr,
    D_PAD: tl.constexpr,
    M_PAD: tl.constexpr,
    BV: tl.constexpr,
    ACC: tl.constexpr,
    PRODUCTS: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """Grid ``(cdiv(dv, BV), segments, BH)``: bidirectional outputs φ(q_i)ᵀS / φ(q_i)ᵀz of the
    queries [s·segment, (s+1)·segment), from the combined state ``S: [BH, m, dv]``, ``z: [BH, m]``
    of all keys and its poisoned columns ``bad: [BH, dv]``; ω and the state block are loaded once."""
    pid_v, pid_s, bh = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    cols = pid_v * BV + tl.arange(0, BV)
    feats = tl.arange(0, M_PAD)
    start = pid_s * segment
    stop = tl.minimum(start + segment, length)
    q_ptr += bh * stride_qb
    out_ptr += bh * stride_ob
    omega_t = _omega_t(w_ptr, d, m, D_PAD, M_PAD)
    state = tl.load(
        s_ptr + (bh * m + feats[:, None]) * dv + cols[None, :],
        mask=(feats[:, None] < m) & (cols[None, :] < dv),
        other=0.0,
    )
    norm = _round(tl.load(z_ptr + bh * m + feats, mask=feats < m, other=0.0), ACC, PRODUCTS, INTERPRETED)
    bad = tl.load(bad_ptr + bh * dv + cols, mask=cols < dv, other=0)
    for first in range(start, stop, C):
        rows = first + tl.arange(0, C)
        qf, bad_q = _query_features(
            q_ptr, rows, stop, stride_ql, stride_qd, omega_t, d, m, D_PAD, M_PAD, ACC, PRODUCTS, INTERPRETED
        )
        qr = _round(qf, ACC, PRODUCTS, INTERPRETED)
        out = _mm(qr, state, ACC, PRODUCTS, INTERPRETED) / tl.sum(qr * norm[None, :], axis=1)[:, None]
        out = tl.where((bad_q[:, None] > 0) | (bad[None, :] > 0), float("nan"), out)
        tl.store(
            out_ptr + rows[:, None] * stride_ol + cols[None, :] * stride_od,
            out.to(out_ptr.dtype.element_ty),
            mask=(rows[:, None] < stop) & (cols[None, :] < dv),
        )
