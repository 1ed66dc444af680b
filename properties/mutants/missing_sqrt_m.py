"""Mutant: features without the 1/√m normalisation. Attention is unaffected (it cancels in the
ratio), but the kernel estimate Â = φ(x)ᵀφ(y) is m times too large."""

import math

import favor
from favor_suite.mutants._base import mutant


def feature_map(x, w, *, kind, **options):
    return favor.feature_map(x, w, kind=kind, **options) * math.sqrt(w.shape[0])


IMPLEMENTATION = mutant(
    "missing_sqrt_m", feature_map=feature_map, input_validation=True, gerf=True, chunk_option="chunk_size"
)
