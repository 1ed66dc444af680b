"""A user's adapter, written outside the checkout: this package's favor with a narrow record
(fp32/fp64, positive features, no sampler, no key mask, no validation), so the gate must resolve
capabilities and still run every case that applies."""

import torch

import favor
from favor_suite.implementation import Implementation


def attention(q, k, v, w, *, kind, causal, key_mask):
    return favor.favor_attention(q, k, v, w, kind=kind, causal=causal, backend="torch")


IMPLEMENTATION = Implementation(
    name="user-favor",
    feature_map=favor.feature_map,
    attention=attention,
    feature_kinds=("positive",),
    orthogonal=False,
    fixed_norms=False,
    key_mask=False,
    dtypes=(torch.float64, torch.float32),
    input_validation=False,
)
