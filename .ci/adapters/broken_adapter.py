"""A user's own small FAVOR+ with a classic mistake: the feature map forgets exp(-|x|^2/2).
The factor cancels for queries but not for keys, so every kernel estimate is biased."""

import math

import torch

from favor_suite.implementation import Implementation


def feature_map(x, w, *, kind):
    return torch.exp(x @ w.T) / math.sqrt(w.shape[0])


def attention(q, k, v, w, *, kind, causal, key_mask):
    scale = q.shape[-1] ** -0.25
    qf, kf = feature_map(q * scale, w, kind=kind), feature_map(k * scale, w, kind=kind)
    return (qf @ (kf.transpose(-2, -1) @ v)) / (qf @ kf.sum(-2, keepdim=True).transpose(-2, -1))


IMPLEMENTATION = Implementation(
    name="user-broken",
    feature_map=feature_map,
    attention=attention,
    feature_kinds=("positive",),
    orthogonal=False,
    fixed_norms=False,
    causal=False,
    key_mask=False,
    dtypes=(torch.float64, torch.float32),
    input_validation=False,
)
