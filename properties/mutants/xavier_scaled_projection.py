"""Mutant: ω ~ N(0, I_d/d), the variance of a Xavier-initialised weight instead of N(0, I_d)."""

import math

import torch

import favor
from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    w = favor.draw_projection(
        m, d, generator=generator, orthogonal=orthogonal, norms=norms, dtype=torch.float64, device=generator.device
    )
    return w / math.sqrt(d)


IMPLEMENTATION = mutant(
    "xavier_scaled_projection",
    sample_projection=sample_projection,
    input_validation=True,
    gerf=True,
    chunk_option="chunk_size",
)
