"""Assertion helpers that build the failure message (array-api-tests' ``ph`` style).

The first line of every message is the *headline* the verdict table shows: what was compared,
observed vs expected, the statistic and its bound, and α. Context (shapes, parameters, seed)
follows on later lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from favor_suite.reference import statistics as st

__all__ = [
    "PropertyViolation",
    "assert_close",
    "assert_identical",
    "assert_law",
    "assert_mean",
    "assert_ratio",
    "assert_shape",
    "fail",
    "fmt_context",
]


class PropertyViolation(AssertionError):
    """A property of FAVOR failed; ``str(err).splitlines()[0]`` is the headline.

    ``severity`` overrides the test's ``@pytest.mark.severity`` where one test can fail in more
    than one way (e.g. a dependence of the past on the future within rounding is *fragile*, beyond
    it *wrong*); None keeps the test's."""

    def __init__(self, message: str, severity: str | None = None) -> None:
        super().__init__(message)
        self.severity = severity


def fmt_context(**context: object) -> str:
    return "\n".join(f"  {key} = {value}" for key, value in context.items())


def fail(headline: str, *, severity: str | None = None, **context: object) -> None:
    """Raise a :class:`PropertyViolation` whose message is the headline and the context lines."""
    raise PropertyViolation(headline + ("\n" + fmt_context(**context) if context else ""), severity)


def _np(x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def assert_shape(what: str, observed: tuple[int, ...], expected: tuple[int, ...], **context: object) -> None:
    if tuple(observed) != tuple(expected):
        fail(f"{what}: shape {tuple(observed)}, expected {tuple(expected)}", **context)


def assert_mean(
    what: str, replicates: object, expected: float, variance: float, alpha: float, **context: object
) -> float:
    """z-test of mean(replicates) = expected, with the *closed-form* variance of one replicate
    (MATH 25): |z| ≤ z_test_critical(α). Returns z."""
    x = _np(replicates)
    n = x.size
    mean = float(x.mean())
    z = (mean - expected) / math.sqrt(variance / n)
    crit = st.z_test_critical(alpha)
    if not abs(z) <= crit:
        rel = (mean - expected) / expected if expected else float("nan")
        fail(
            f"{what}: mean {mean:.6g} vs expected {expected:.6g} (relative {rel:+.3%}), "
            f"z = {z:.2f}, |z| ≤ {crit:.2f} required at α = {alpha:.1e}",
            replicates=n,
            sd_of_mean=math.sqrt(variance / n),
            **context,
        )
    return z


def assert_law(
    what: str,
    samples: object,
    cdf: Callable[[np.ndarray], np.ndarray],
    alpha: float,
    *,
    effective_n: int | None = None,
    rounding: float = 0.0,
    **context: object,
) -> float:
    """Kolmogorov-Smirnov against an exact law with the DKWM critical value (MATH 24): the
    false-alarm probability is ≤ α for any sample size. ``samples`` is ``[n]`` or ``[n, k]``
    (k laws tested at once, the worst column reported; α is per column). ``effective_n`` is the
    number of iid samples the bound may count on when ``samples`` holds dependent copies.
    ``rounding`` = δ when each sample may be off by at most δ: the distance is then measured
    against the band [F(t − δ), F(t + δ)] (max of i/n − F(x_(i) + δ) and F(x_(i) − δ) − (i−1)/n),
    which the rounded samples of a law at KS distance ≤ ε from F stay within ε of. Returns the
    largest distance."""
    x = _np(samples)
    x = x.reshape(x.shape[0], -1)
    if not np.isfinite(x).all():
        fail(f"{what}: {int((~np.isfinite(x)).sum())} of {x.size} samples are not finite", **context)
    dists = st.ks_distance(x, cdf, rounding)
    worst = int(np.argmax(dists))
    n = effective_n or x.shape[0]
    eps = st.dkwm_epsilon(n, alpha)
    if not dists[worst] <= eps:
        col = x[:, worst]
        where = f" (column {worst} of {x.shape[1]})" if x.shape[1] > 1 else ""
        fail(
            f"{what}{where}: KS distance {dists[worst]:.4f} > DKWM bound {eps:.4f} (n = {n}, α = {alpha:.1e})",
            sample_mean=f"{col.mean():.4g}",
            sample_sd=f"{col.std():.4g}",
            **context,
        )
    return float(dists[worst])


def assert_ratio(
    what: str, ratio: float, sd: float, alpha: float, *, expected: float = 1.0, **context: object
) -> float:
    """Two-sided test that an estimated ratio equals ``expected`` (MATH 27): too much *or* too
    little is a failure. |ratio − expected|/sd ≤ z_test_critical(α). Returns z."""
    z = (ratio - expected) / sd
    crit = st.z_test_critical(alpha)
    if not abs(z) <= crit:
        fail(
            f"{what}: ratio {ratio:.4f} vs expected {expected:.4f}, z = {z:.2f}, "
            f"|z| ≤ {crit:.2f} required at α = {alpha:.1e}",
            sd_of_ratio=sd,
            **context,
        )
    return z


def assert_close(
    what: str,
    observed: torch.Tensor,
    expected: torch.Tensor,
    *,
    rtol: float,
    atol: float | torch.Tensor = 0.0,
    saturate: torch.dtype | None = None,
    **context: object,
) -> None:
    """|observed − expected| ≤ atol + rtol·|expected| elementwise (``atol`` may be a tensor that
    broadcasts), NaN only where expected is NaN. With ``saturate``, both sides are first clamped to
    that dtype's finite range: round-to-nearest turns a value beyond it into ±inf (or the largest
    finite number), and clamping is 1-Lipschitz, so a result whose unrounded value was within the
    allowance of one that overflows still compares within it — and an overflow where the expected
    value is far inside the range still fails."""
    obs, exp = _np(observed), _np(expected)
    if saturate is not None:
        top = torch.finfo(saturate).max
        obs, exp = np.clip(obs, -top, top), np.clip(exp, -top, top)
    atol = np.broadcast_to(_np(atol), exp.shape)
    if obs.shape != exp.shape:
        fail(f"{what}: shape {obs.shape}, expected {exp.shape}", **context)
    nan_obs, nan_exp = np.isnan(obs), np.isnan(exp)
    if (nan_obs != nan_exp).any():
        idx = tuple(int(i) for i in np.argwhere(nan_obs != nan_exp)[0])
        fail(
            f"{what}: NaN pattern differs, {int(nan_obs.sum())} NaN observed vs {int(nan_exp.sum())} "
            f"expected; first difference at {idx}: {obs[idx]} vs {exp[idx]}",
            **context,
        )
    ok = ~nan_exp
    err = np.abs(obs - exp)
    bound = atol + rtol * np.abs(exp)
    bad = ok & ~(err <= bound)
    if bad.any():
        excess = np.where(bad, err / np.maximum(bound, np.finfo(float).tiny), 0.0)
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
        fail(
            f"{what}: max error {err[idx]:.3e} at {idx} exceeds {bound[idx]:.3e} "
            f"(rtol {rtol:.1e}, atol {atol[idx]:.1e}); observed {obs[idx]:.10g}, expected {exp[idx]:.10g}",
            mismatched=f"{int(bad.sum())} of {bad.size}",
            **context,
        )


def assert_identical(what: str, observed: torch.Tensor, expected: torch.Tensor, **context: object) -> None:
    """Bit-for-bit equality (NaN equal to NaN)."""
    if (
        observed.shape != expected.shape
        or not torch.equal(torch.nan_to_num(observed, nan=0.0), torch.nan_to_num(expected, nan=0.0))
        or not torch.equal(observed.isnan(), expected.isnan())
    ):
        diff = (observed.double() - expected.double()).abs().nan_to_num(nan=math.inf)
        idx = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), diff.shape)) if diff.numel() else ()
        fail(
            f"{what}: not bit-identical, max |difference| {diff.max().item() if diff.numel() else 0:.3e} at {idx}",
            **context,
        )
