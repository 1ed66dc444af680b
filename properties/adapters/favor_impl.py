"""This project's ``favor``, described as an implementation under test (the default)."""

from __future__ import annotations

import torch
from favor_suite.implementation import Implementation

import favor


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
    attention=favor.favor_attention,
    feature_kinds=("positive", "hyperbolic", "trigonometric"),
    chunk_option="chunk_size",
    gerf=True,
)
