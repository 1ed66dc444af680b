"""Mutant: GERF features without their constant D = (1 − 4A)^(d/4) (MATH 21). At A = 0 nothing
changes; at any other A the kernel estimate is off by (1 − 4A)^(−d/2)."""

import favor
from favor_suite.mutants._base import mutant


def feature_map(x, w, *, kind, gerf_a=0.0, **options):
    phi = favor.feature_map(x, w, kind=kind, gerf_a=gerf_a, **options)
    if kind != "gerf":
        return phi
    return phi / (1.0 - 4.0 * gerf_a) ** (0.25 * x.shape[-1])


IMPLEMENTATION = mutant(
    "gerf_missing_normalizer", feature_map=feature_map, input_validation=True, gerf=True, chunk_option="chunk_size"
)
