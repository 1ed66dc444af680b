"""Why lucidrains' performer-pytorch 1.1.4 fails the properties it fails: the causes of
``PERFORMER_PYTORCH_VERDICT.md`` as data, matched by ``python -m favor_suite.peers
performer-pytorch`` against every failure of the gate. Line numbers refer to
``performer_pytorch/performer_pytorch.py`` of 1.1.4 as installed. (Kept apart from the adapter,
``performer_pytorch.py``, which this file does not change.)"""

from __future__ import annotations

from favor_suite.peers import Finding, Match

__all__ = ["FINDINGS"]

_LIB = "performer_pytorch/performer_pytorch.py"

FINDINGS = (
    Finding(
        "A",
        "QR without the sign fix",
        (f"{_LIB}:136", f"{_LIB}:140"),
        "`orthogonal_matrix_chunk` uses LAPACK's Q as it comes back (`torch.linalg.qr`, then `q.t()`), without "
        "Q ← Q·diag(sign diag R) (MATH 10): the directions are Haar only up to sign — row r's r-th coordinate is "
        "never positive. The norms are independent χ_d draws (l. 159), so this is the only sampler defect. The "
        "positive feature exp(ωᵀx) is one-sided, so a sign-biased direction biases the kernel estimate: low where z = "
        "x + y points along a row's own axis. (An even map — hyperbolic — would not be biased by it.)",
        (
            Match("projections::test_coordinates_and_norms_follow_the_gaussian_law*orthogonal*"),
            Match("kernel_estimator::test_kernel_estimate_is_unbiased*orthogonal*"),
            Match("kernel_estimator::test_kernel_estimate_variance_matches_closed_form*orthogonal*"),
            Match("kernel_estimator::test_kernel_matrix_error_falls_as_one_over_m*orthogonal*"),
            Match("kernel_estimator::test_fixed_norms_have_the_smreg_signature*"),
            Match("kernel_estimator::test_orthogonal_features_have_less_variance_than_iid*"),
            Match("attention_statistics::test_8192_orthogonal_features*"),
        ),
        "2000 draws at d = 16: row r's r-th coordinate has mean ≈ −0.8 and P(ω_0[0] > 0) = 0; at d = 1, ω = +χ_1 "
        "(KS 0.50). Kernel mean at d = 1: −13.0 % (z = −60). m = 8192 attention: 2.65/1.49/1.89 % bidirectional and "
        "1.98/1.15/1.50 % causal from exact over three seeds; with the sign fix patched in 0.45/0.44/0.46 % and "
        "0.49/0.40/0.46 % (eps set to 0 changes none of these numbers).",
    ),
    Finding(
        "B",
        "Additive eps = 1e-4 after the stabilizer",
        (f"{_LIB}:110", f"{_LIB}:113"),
        "`ratio·(exp(ωᵀx̃ − ‖x̃‖²/2 − max) + eps)` adds a floor whose weight relative to the kernel depends on the "
        "stabilizer — a per-row max for queries, the max over all keys and features of a `[b, h]` slice for keys. "
        "The features are biased (the kernel estimate rises by about 2·eps·e^M), differ between queries and keys, "
        "key features depend on every other key, and the `.detach()`ed stabilizers no longer cancel in the gradient. "
        "N̂ and D̂ formed from these features are biased by the same floor, so their means miss Σ_j A_ij V_j; at "
        "x + y = 0, where the exact estimator is a point mass at SM, the floor shows as a fixed offset (+0.03 %).",
        (
            Match("features::test_positive_log_features_are_gaussian*"),
            Match("kernel_estimator::test_entry_does_not_depend_on_other_tokens*"),
            Match("attention_identities::test_linear_time_equals_quadratic_on_the_same_features*bidirectional*"),
            Match("attention_identities::test_bidirectional_attention_is_permutation_equivariant*"),
            Match("numerics::test_gradcheck_in_float64*"),
            Match("numerics::test_gradients_match_float64_on_the_same_features*bidirectional*"),
            Match("attention_statistics::test_numerator_and_normalizer_follow_their_exact_law*"),
            Match("kernel_estimator::test_kernel_estimate_is_unbiased*iid*"),
        ),
        "x = y = 0: ln(n·φ_r(x)φ_r(y)) = 2.0e-4 = ln((1 + 1e-4)²) on all 4000 rows instead of 0. Â_ij moves by "
        "5.45e-05 when the other tokens change. gradcheck: k's Jacobian off by 8.5e-05 of 0.12. With eps = 0 "
        "(diagnostic) all of these pass.",
    ),
    Finding(
        "C",
        "eps = 1e-6 in the causal normalizer",
        (f"{_LIB}:210",),
        "The causal denominator is q·(Σk + 1e-6) (`k_cumsum + eps`) while the numerator has no such term, so every "
        "causal output is pulled towards 0 by D/(D + 1e-6·Σq) — relatively more as the features shrink. The "
        "stabilizer subtracts max ωᵀx̃, not ‖x̃‖²/2 (l. 104, 110-113), so in float32 large inputs underflow every "
        "feature to the floor 1e-4·m^(−1/2), where the 1e-6 is 1 % of the denominator. The output then depends on "
        "k even for a single key, so dk ≠ 0 where the exact gradient is 0, and in float32 the pull exceeds the "
        "rounding allowance from the first position on.",
        (
            Match("attention_identities::test_linear_time_equals_quadratic_on_the_same_features*causal*"),
            Match("attention_identities::test_output_rows_lie_in_the_convex_hull_of_the_values*"),
            Match("attention_identities::test_stabilization_cancels_where_plain_float32_would_underflow*"),
            Match("attention_identities::test_batch_and_head_slices_are_independent*causal*"),
            Match("numerics::test_gradients_match_float64_on_the_same_features*causal*"),
            Match("numerics::test_long_sequences_in_low_precision_keep_every_token*causal-float32*"),
            Match("numerics::test_low_precision_matches_float64_on_the_same_features*causal-float32*"),
        ),
        "L = m = d = 1: output −1.084520686 for v = −1.084522342, a gap of 1.53e-6 = 1e-6/0.6547. Stabilization "
        "test (‖b‖²/2 = 95): 0.82973 instead of 0.83803 = 1e-4/(1e-4 + 1e-6) of it; with eps = 0 it is NaN (0/0).",
    ),
    Finding(
        "D",
        "The key stabilizer is a max over all keys, future ones included, in the causal path",
        (f"{_LIB}:113", f"{_LIB}:202"),
        "Through the eps floor (B) and the 1e-6 (C), the global key max changes the weights of past keys when a "
        "future key changes; a large future key pushes every past key to the floor, so past outputs become plain "
        "averages of the values; a NaN future key makes the max NaN and every row NaN.",
        (
            Match("causality::test_future_tokens_do_not_change_past_outputs*"),
            Match("causality::test_nan_reaches_exactly_its_dependents*"),
        ),
        "L = 8, d = 16, m = 64, ‖x̃‖ = 0.8, float64: multiplying the last key by 5 moves past outputs by up to 0.13 "
        "(typical output 0.58). k[5, 0] = NaN (causal) turns all rows NaN, rows 0-4 included.",
    ),
    Finding(
        "E",
        "Half precision computed in half precision",
        (f"{_LIB}:100", f"{_LIB}:174"),
        "Every op from the feature map to the normalizer runs in the input dtype, with no fp32 accumulation. When "
        "features fall to the eps floor, a query-key product (1e-4·m^(−1/2))² ≤ 1e-8 is below fp16's smallest "
        "subnormal (6e-8): D = 0 and the division gives NaN.",
        (
            Match("numerics::test_low_precision_matches_float64_on_the_same_features*float16*"),
            Match("numerics::test_outputs_and_gradients_are_finite_in_the_claimed_range*float16*"),
            Match("numerics::test_long_sequences_in_low_precision_keep_every_token*float16*"),
        ),
        "bf16, L = m = 1: 0.208984 for v = 0.209961 (1 ulp); fp32 compute rounded to bf16 returns v exactly. fp16 at "
        "d = 16, m = 64 is NaN for every output already at ‖q̃‖ = ‖k̃‖ = 3.",
    ),
    Finding(
        "F",
        "Per-position prefix states materialised by the non-CUDA causal path",
        (f"{_LIB}:207", f"{_LIB}:211"),
        "`causal_linear_attention_noncuda` forms `[b, h, n, m, dv]` prefix states (`einsum('...nd,...ne->...nde')` "
        "then `cumsum`), split into 128 chunks (`t.chunk(128)`): O(L·m·dv) memory in total, one chunk live at a time "
        "without autograd, all chunks kept for backward.",
        (Match("cost::*causal*"),),
    ),
    Finding(
        "G",
        "Orthogonal sampler allocates an m×m matrix",
        (f"{_LIB}:165",),
        "`gaussian_orthogonal_random_matrix` returns `torch.diag(multiplier) @ final_matrix`: an m×m diagonal matrix, "
        "O(m²) memory (m = 63 741 asks for 32 GB in float64).",
        (Match("*", r"(?i)out of memory|can't allocate|DefaultCPUAllocator"),),
    ),
)
