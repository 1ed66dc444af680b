"""favor: a compact FAVOR+ (Performer) attention in PyTorch.

Modules: ``projections`` (ω draws), ``features`` (φ maps), ``gerf`` (FAVOR++ parameter),
``attention`` (linear-time attention, the readable reference), ``module`` (``FavorAttention``),
``validation``, ``backend`` (``favor_attention(..., backend=)``: PyTorch or Triton), and the
optional Triton backend (extra ``[gpu]``, imported only when chosen): ``triton_kernels`` (the
kernels) and ``triton_attention`` (launch, segment states, autograd).
"""

from favor.attention import favor_attention
from favor.features import (
    feature_map,
    gerf_features,
    hyperbolic_features,
    num_features,
    positive_features,
    split_features,
    trigonometric_features,
)
from favor.gerf import optimal_gerf_a, optimal_gerf_parameter
from favor.module import FavorAttention
from favor.projections import draw_projection, iid_gaussian, orthogonal_gaussian

__all__ = [
    "FavorAttention",
    "draw_projection",
    "favor_attention",
    "feature_map",
    "gerf_features",
    "hyperbolic_features",
    "iid_gaussian",
    "num_features",
    "optimal_gerf_a",
    "optimal_gerf_parameter",
    "orthogonal_gaussian",
    "positive_features",
    "split_features",
    "trigonometric_features",
]
