"""Mutant: positive features without the exp(−‖x‖²/2) factor: φ(x) = exp(ωᵀx)/√m. The kernel
estimate is then exp(xᵀy)·exp((‖x‖²+‖y‖²)/2). (The attention path is left correct.)"""

import favor
from favor_suite.mutants._base import mutant


def feature_map(x, w, *, kind, **options):
    phi = favor.feature_map(x, w, kind=kind, **options)
    return phi * (0.5 * x.square().sum(-1, keepdim=True)).exp() if kind == "positive" else phi


IMPLEMENTATION = mutant(
    "no_norm_factor", feature_map=feature_map, input_validation=True, gerf=True, chunk_option="chunk_size"
)
