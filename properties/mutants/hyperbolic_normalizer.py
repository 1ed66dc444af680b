"""Mutant: hyperbolic features normalised by 1/√m instead of 1/√(2m) (MATH 4): the kernel
estimate is twice SM."""

import math

import favor
from favor_suite.mutants._base import mutant


def feature_map(x, w, *, kind, **options):
    phi = favor.feature_map(x, w, kind=kind, **options)
    return phi * math.sqrt(2) if kind == "hyperbolic" else phi


IMPLEMENTATION = mutant(
    "hyperbolic_normalizer", feature_map=feature_map, input_validation=True, gerf=True, chunk_option="chunk_size"
)
