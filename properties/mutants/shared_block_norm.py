"""Mutant: one χ_d norm drawn per orthogonal block and shared by its rows. Each ω_r is still
exactly N(0, I_d) marginally — the estimator stays unbiased — but rows of a block are no longer
independent in norm, so the variance departs from MATH 12. Only a two-sided variance test sees it."""

import math

import torch

import favor
from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    w = favor.draw_projection(
        m, d, generator=generator, orthogonal=orthogonal, norms=norms, dtype=torch.float64, device=generator.device
    )
    if not orthogonal or norms == "fixed":
        return w
    blocks = math.ceil(m / d)
    radius = torch.randn(blocks, d, generator=generator, dtype=torch.float64, device=generator.device).norm(dim=-1)
    return w / w.norm(dim=-1, keepdim=True) * radius.repeat_interleave(d)[:m, None]


IMPLEMENTATION = mutant(
    "shared_block_norm",
    sample_projection=sample_projection,
    input_validation=True,
    gerf=True,
    chunk_option="chunk_size",
)
