"""Replicates drawn through the implementation under test, for the statistical properties."""

from __future__ import annotations

import torch

from favor_suite.implementation import Implementation
from favor_suite.reference import projections as suite

__all__ = ["projection_source", "projections"]


def projection_source(impl: Implementation, *, orthogonal: bool, norms: str = "chi") -> str:
    """Whose sampler draws the projections: the implementation's where it declares that law, else
    the suite's own (``reference.projections``), so that an implementation with a feature map but
    no sampler still gets every kernel-estimator property."""
    own = impl.sample_projection is not None and (not orthogonal or impl.orthogonal)
    if norms == "fixed":
        own = own and impl.fixed_norms
    return "implementation" if own else "suite"


def projections(
    impl: Implementation, calls: int, m: int, d: int, *, orthogonal: bool, norms: str, gen: torch.Generator
) -> torch.Tensor:
    """``[calls, m, d]`` float64: independent projections, one sampler call each (the
    implementation's sampler, or the suite's: see :func:`projection_source`)."""
    if projection_source(impl, orthogonal=orthogonal, norms=norms) == "implementation":
        draws = [impl.sample_projection(m, d, orthogonal=orthogonal, norms=norms, generator=gen) for _ in range(calls)]
    elif orthogonal:
        return suite.haar_orthogonal(m, d, gen, norms=norms, batch=(calls,))
    else:
        return suite.iid_gaussian(m, d, gen, batch=(calls,))
    return torch.stack([w.detach().to(device=gen.device, dtype=torch.float64) for w in draws])
