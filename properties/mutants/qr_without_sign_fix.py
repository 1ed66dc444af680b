"""Mutant: Q from QR taken as is, without Q ← Q·diag(sign(diag R)) (MATH 10). LAPACK's Q is
then not Haar-distributed: its first direction stays in a half-space, biasing the estimator."""

import math

import torch

from favor_suite.mutants._base import mutant


def sample_projection(m, d, *, orthogonal, norms, generator):
    blocks = math.ceil(m / d)
    g = torch.randn(blocks, d, d, generator=generator, dtype=torch.float64, device=generator.device)
    q, _ = torch.linalg.qr(g)
    directions = q.transpose(-2, -1).reshape(blocks * d, d)[:m]
    radii = torch.randn(m, d, generator=generator, dtype=torch.float64, device=generator.device).norm(dim=-1)
    if orthogonal and norms == "fixed":
        radii = torch.full_like(radii, math.sqrt(d))
    if not orthogonal:
        return torch.randn(m, d, generator=generator, dtype=torch.float64, device=generator.device)
    return directions * radii[:, None]


IMPLEMENTATION = mutant(
    "qr_without_sign_fix",
    sample_projection=sample_projection,
    input_validation=True,
    gerf=True,
    chunk_option="chunk_size",
)
