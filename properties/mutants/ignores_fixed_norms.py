"""Mutant: ``norms="fixed"`` is silently ignored and χ_d norms are drawn. The estimator is then
unbiased for SM where the fixed-norm law says it must be biased (SMREG, MATH 13)."""

import torch

import favor
from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    return favor.draw_projection(
        m,
        d,
        generator=generator,
        orthogonal=orthogonal,
        norms="chi" if orthogonal else norms,
        dtype=torch.float64,
        device=generator.device,
    )


IMPLEMENTATION = mutant(
    "ignores_fixed_norms",
    sample_projection=sample_projection,
    input_validation=True,
    gerf=True,
    chunk_option="chunk_size",
)
