"""This project's ``favor`` on its PyTorch code, described as an implementation under test (the
default). The Triton backend has its own record, ``favor_triton``."""

from __future__ import annotations

from functools import partial

import torch

import favor
from favor_suite.implementation import Implementation


def sample_projection(m: int, d: int, *, orthogonal: bool, norms: str, generator: torch.Generator) -> torch.Tensor:
    return favor.draw_projection(
        m,
        d,
        generator=generator,
        orthogonal=orthogonal,
        norms=norms,
        dtype=torch.float64,
        device=generator.device,
    )


IMPLEMENTATION = Implementation(
    name="favor",
    sample_projection=sample_projection,
    feature_map=favor.feature_map,
    attention=partial(favor.favor_attention, backend="torch"),
    feature_kinds=("positive", "hyperbolic", "trigonometric"),
    chunk_option="chunk_size",
    gerf=True,
)
