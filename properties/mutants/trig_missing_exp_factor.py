"""Mutant: trigonometric features without exp(‖x‖²/2) (MATH 2): they estimate exp(−‖x−y‖²/2),
the Gaussian kernel, instead of the softmax kernel. (The attention path is left correct.)"""

import favor
from favor_suite.mutants._base import mutant


def feature_map(x, w, *, kind, **options):
    phi = favor.feature_map(x, w, kind=kind, **options)
    return phi * (-0.5 * x.square().sum(-1, keepdim=True)).exp() if kind == "trigonometric" else phi


IMPLEMENTATION = mutant(
    "trig_missing_exp_factor", feature_map=feature_map, input_validation=True, gerf=True, chunk_option="chunk_size"
)
