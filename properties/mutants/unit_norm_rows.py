"""Mutant: orthogonal rows used as they come out of QR (norm 1), forgetting the χ_d norms.
Every ω_r has norm 1 instead of ≈ √d: the kernel estimates exp(xᵀy/d)-like quantities."""

import torch

import favor
from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    w = favor.draw_projection(
        m, d, generator=generator, orthogonal=orthogonal, norms=norms, dtype=torch.float64, device=generator.device
    )
    return w / w.norm(dim=-1, keepdim=True)


IMPLEMENTATION = mutant(
    "unit_norm_rows", sample_projection=sample_projection, input_validation=True, gerf=True, chunk_option="chunk_size"
)
