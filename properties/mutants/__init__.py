"""The mutant catalogue: realistic broken FAVOR implementations the suite must reject.

Each module holds one ``IMPLEMENTATION``: the correct ``favor`` with one plausible mistake.
``CATALOGUE`` maps the module name to the property areas (test modules) that are meant to catch
it; ``properties/meta/test_mutants.py`` runs those areas against each mutant and asserts a
failure, and ``python -m favor_suite.kill_matrix`` runs every area against every mutant and
writes ``properties/mutants/KILL_MATRIX.md``. No test knows about any mutant.
"""

CATALOGUE: dict[str, tuple[str, ...]] = {
    "unit_norm_rows": ("projections", "kernel_estimator"),
    "qr_without_sign_fix": ("projections",),
    "reused_orthogonal_block": ("projections",),
    "shared_block_norm": ("projections", "kernel_estimator"),
    "ignores_fixed_norms": ("kernel_estimator",),
    "xavier_scaled_projection": ("projections", "kernel_estimator"),
    "no_norm_factor": ("features", "kernel_estimator"),
    "missing_sqrt_m": ("features", "kernel_estimator"),
    "hyperbolic_normalizer": ("features", "kernel_estimator"),
    "trig_missing_exp_factor": ("features", "kernel_estimator"),
    "no_data_scaling": ("attention_statistics",),
    "causal_off_by_one_leak": ("causality", "attention_identities"),
    "causal_exclusive_prefix": ("causality", "attention_identities"),
    "chunk_state_not_carried": ("attention_identities", "causality"),
    "mask_ignored_in_normalizer": ("causality", "attention_identities"),
    "quadratic_materialised": ("cost",),
    "epsilon_in_normalizer": ("attention_identities",),
    "no_stabilizer": ("attention_identities", "numerics"),
    "per_key_stabilizer": ("attention_identities",),
    "global_key_max_causal": ("causality",),
    "half_precision_compute": ("numerics",),
    "half_precision_accumulator": ("numerics",),
    "detached_normalizer": ("numerics",),
    "chunk_state_gradient_dropped": ("numerics",),
    "gerf_missing_normalizer": ("favorpp",),
}
