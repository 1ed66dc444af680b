"""Mutant: for m > d, one orthogonal block is drawn and tiled, instead of ⌈m/d⌉ independent
blocks (MATH 10). Rows r and r + d are then parallel."""

import math

import torch

import favor
from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    if not orthogonal:
        return favor.iid_gaussian(m, d, generator=generator, dtype=torch.float64, device=generator.device)
    block = favor.orthogonal_gaussian(
        min(m, d), d, generator=generator, norms=norms, dtype=torch.float64, device=generator.device
    )
    return block.repeat(math.ceil(m / d), 1)[:m]


IMPLEMENTATION = mutant(
    "reused_orthogonal_block",
    sample_projection=sample_projection,
    input_validation=True,
    gerf=True,
    chunk_option="chunk_size",
)
