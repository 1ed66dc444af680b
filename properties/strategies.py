"""Hypothesis strategies for FAVOR properties (array-api-tests' ``hh``), reusable elsewhere.

Values are never drawn float by float: a test draws shapes, scales, a structure and an integer
seed, and builds tensors from a ``torch.Generator`` seeded with it, so every example is a pure
function of its drawn values and shrinks reproducibly (MATH 28).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

__all__ = [
    "STRUCTURES",
    "KernelPair",
    "Sequences",
    "batch_shapes",
    "dims",
    "feature_counts",
    "generator",
    "kernel_pair",
    "kernel_pairs",
    "pair_with_sum",
    "seeds",
    "sequences",
    "structured_vectors",
]

SPECIAL_DIMS = (1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 32, 64, 97, 127, 128)
STRUCTURES = ("gaussian", "zero", "axis", "repeated", "antipodal", "near_duplicate", "mixed_norms")


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**62)


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def dims(max_d: int = 128) -> st.SearchStrategy[int]:
    """d in [1, max_d]: odd, prime and power-of-two values first, then any."""
    special = [d for d in SPECIAL_DIMS if d <= max_d]
    return st.one_of(st.sampled_from(special), st.integers(1, max_d))


def feature_counts(d: int, max_m: int = 512, min_m: int = 1) -> st.SearchStrategy[int]:
    """m covering m < d, m = d and m > d not a multiple of d (independent blocks)."""
    lo = max(min_m, 1)
    choices = [st.integers(lo, max_m)]
    if lo <= d <= max_m:
        choices.append(st.just(d))
    if lo < d:
        choices.append(st.integers(lo, min(d - 1, max_m)))
    if d + 1 <= max_m and max(lo, d + 1) <= max_m:
        choices.append(st.integers(max(lo, d + 1), max_m).filter(lambda m: m % d != 0 or d == 1))
    return st.one_of(choices)


def batch_shapes(max_dims: int = 2, max_side: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(1, max_side), max_size=max_dims).map(tuple)


def structured_vectors(
    structure: str, n: int, d: int, max_norm: float, gen: torch.Generator, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """n vectors in ℝ^d, every norm ≤ max_norm, with the given structure:
    gaussian (random directions, norms uniform in [0, max_norm]), zero, axis (scaled basis
    vectors), repeated (one vector n times), antipodal (v, −v, v, …), near_duplicate (v plus
    1e-7 noise), mixed_norms (norms spread over four decades)."""
    dev = gen.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, dtype=torch.float64, device=dev)

    def directions(k: int) -> torch.Tensor:
        g = torch.randn(k, d, generator=gen, dtype=torch.float64, device=dev)
        return g / g.norm(dim=-1, keepdim=True).clamp_min(1e-300)

    if structure == "gaussian":
        x = directions(n) * (rand(n, 1) * max_norm)
    elif structure == "zero":
        x = torch.zeros(n, d, dtype=torch.float64, device=dev)
    elif structure == "axis":
        axes = torch.randint(0, d, (n,), generator=gen, device=dev)
        signs = torch.where(rand(n) < 0.5, -1.0, 1.0)
        x = torch.nn.functional.one_hot(axes, d).double() * (signs * rand(n) * max_norm)[:, None]
    elif structure == "repeated":
        x = (directions(1) * rand(1, 1) * max_norm).expand(n, d).clone()
    elif structure == "antipodal":
        v = directions(1) * rand(1, 1) * max_norm
        signs = torch.tensor([1.0, -1.0], dtype=torch.float64, device=dev).repeat((n + 1) // 2)[:n]
        x = v * signs[:, None]
    elif structure == "near_duplicate":
        v = directions(1) * (rand(1, 1) * 0.9 * max_norm)
        x = v + 1e-7 * max_norm * directions(n) * rand(n, 1)
    elif structure == "mixed_norms":
        x = directions(n) * (max_norm * 10.0 ** (-4.0 * rand(n, 1)))
    else:
        raise ValueError(f"unknown structure {structure!r}")
    return x.to(dtype)


def kernel_pair(draw_structure: str, d: int, s_max: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y ∈ ℝ^d with ‖x‖, ‖y‖ ≤ √s_max/2, hence s = ‖x+y‖² ≤ s_max (MATH 28)."""
    pair = structured_vectors(draw_structure, 2, d, math.sqrt(s_max) / 2, gen)
    return pair[0], pair[1]


def pair_with_sum(d: int, s: float, gen: torch.Generator, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y = z/2 ± δ with ‖z‖² = s exactly (so s = ‖x + y‖²) and a random δ of scale ``spread``."""
    z = torch.randn(d, generator=gen, dtype=torch.float64, device=gen.device)
    z = z / z.norm() * math.sqrt(s)
    delta = torch.randn(d, generator=gen, dtype=torch.float64, device=gen.device) * spread
    return z / 2 + delta, z / 2 - delta


@dataclass(frozen=True)
class KernelPair:
    """x, y ∈ ℝ^d with s = ‖x+y‖² ≤ s_max, the generator that made them (for the projections
    drawn next), and the drawn parameters for failure messages."""

    x: torch.Tensor
    y: torch.Tensor
    gen: torch.Generator
    context: dict[str, object]

    @property
    def d(self) -> int:
        return self.x.shape[-1]


@st.composite
def kernel_pairs(
    draw: st.DrawFn, *, device: torch.device | str = "cpu", max_d: int = 64, s_range: tuple[float, float] = (0.05, 0.5)
) -> KernelPair:
    """A structured pair (see :func:`kernel_pair`) with a drawn d, structure, s_max and seed."""
    d = draw(dims(max_d), label="d")
    structure = draw(st.sampled_from(STRUCTURES), label="structure")
    s_cap = draw(st.floats(*s_range), label="s_max")
    gen = generator(draw(seeds(), label="seed"), device)
    x, y = kernel_pair(structure, d, s_cap, gen)
    return KernelPair(x, y, gen, {"d": d, "structure": structure, "s_max": s_cap})


@dataclass(frozen=True)
class Sequences:
    """q, k: ``[*batch, L, d]``, v: ``[*batch, L, dv]`` and the parameters that made them."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    structure: str
    max_norm: float
    seed: int

    def cast(self, dtype: torch.dtype) -> Sequences:
        """The same sequences in ``dtype`` (rounded once)."""
        q, k, v = (x.to(dtype) for x in (self.q, self.k, self.v))
        return Sequences(q, k, v, self.structure, self.max_norm, self.seed)

    def describe(self) -> dict[str, object]:
        return {
            "q.shape": tuple(self.q.shape),
            "dtype": str(self.q.dtype).removeprefix("torch."),
            "v.shape": tuple(self.v.shape),
            "structure": self.structure,
            "max ‖q̃‖,‖k̃‖": self.max_norm,
            "seed": self.seed,
        }


@st.composite
def sequences(
    draw: st.DrawFn,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
    max_len: int = 40,
    min_len: int = 1,
    max_d: int = 16,
    max_dv: int = 8,
    max_norm: tuple[float, float] = (0.05, 1.0),
    batch: st.SearchStrategy[tuple[int, ...]] | None = None,
) -> Sequences:
    """Attention inputs. Rows of q and k are structured vectors whose *scaled* norms
    ‖d^(-1/4)q‖, ‖d^(-1/4)k‖ are at most the drawn ``max_norm``; v is Gaussian."""
    shape = draw(batch if batch is not None else batch_shapes(), label="batch")
    length = draw(st.integers(min_len, max_len), label="L")
    d = draw(dims(max_d), label="d")
    dv = draw(st.integers(1, max_dv), label="dv")
    structure = draw(st.sampled_from(STRUCTURES), label="structure")
    norm = draw(st.floats(*max_norm), label="max_norm")
    seed = draw(seeds(), label="seed")
    gen = generator(seed, device)
    rows = math.prod(shape)
    raw_norm = norm * d**0.25
    q = structured_vectors(structure, rows * length, d, raw_norm, gen)
    k = structured_vectors(draw(st.sampled_from(STRUCTURES), label="k_structure"), rows * length, d, raw_norm, gen)
    v = torch.randn(rows * length, dv, generator=gen, dtype=torch.float64, device=gen.device)

    def shaped(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*shape, length, x.shape[-1]).to(dtype)

    return Sequences(shaped(q), shaped(k), shaped(v), structure, norm, seed)
