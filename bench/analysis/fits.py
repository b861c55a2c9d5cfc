"""Fits of one series: the log-log slope with a bootstrap 95 % CI, a non-negative quadratic, a verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

LINEAR_BAND = (0.7, 1.3)
QUADRATIC_BAND = (1.6, 2.4)
VERDICT_RULE = (
    "The log-log slope of the metric against the swept axis is fitted by least squares over the upper "
    "part of the measured range (distinct sizes in the top half of the range on a log scale, at least "
    "three when available); its 95 % CI comes from a bootstrap (resampling each point's raw timing "
    "samples when they exist, else the fit residuals). Verdict: **linear** when the whole CI lies inside "
    f"({LINEAR_BAND[0]}, {LINEAR_BAND[1]}); **quadratic** when it lies inside "
    f"({QUADRATIC_BAND[0]}, {QUADRATIC_BAND[1]}); otherwise **inconclusive** (a CI straddling a band "
    f"edge, a slope below {LINEAR_BAND[0]} where fixed costs still dominate, a slope above "
    f"{QUADRATIC_BAND[1]}, or too few points for a CI)."
)


@dataclass(frozen=True)
class SlopeFit:
    """Log-log slope over the upper range with a 95 % bootstrap CI; slope is None when data is too thin.

    x_min/x_max is the range the slope was fitted on; ci_method is "samples", "residuals" or "none".
    """

    slope: float | None
    ci_low: float | None
    ci_high: float | None
    n_points: int
    x_min: float | None
    x_max: float | None
    ci_method: str = "none"
    note: str = ""


@dataclass(frozen=True)
class PolyFit:
    """t = a + b x + c x^2 with a, b, c >= 0 (relative least squares).

    quadratic_share = c x_max^2 / t(x_max): how much of the largest size's cost the N^2 term explains.
    """

    a: float
    b: float
    c: float
    rss: float
    n_points: int
    x_max: float
    quadratic_share: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.a + self.b * x + self.c * x ** 2


def _upper_mask(x: np.ndarray, upper_fraction: float) -> np.ndarray:
    distinct = np.unique(x)
    logs = np.log(distinct)
    cut = logs[-1] - upper_fraction * (logs[-1] - logs[0])
    keep = distinct[logs >= cut - 1e-12]
    if keep.size < 3:
        keep = distinct[-3:]
    return np.isin(x, keep)


def _slopes(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of ly (shape (..., n)) against lx (shape (n,))."""
    centred = lx - lx.mean()
    return (ly - ly.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)


def loglog_slope(
    x: Sequence[float],
    y: Sequence[float] | None = None,
    *,
    samples: Sequence[Sequence[float]] | None = None,
    upper_fraction: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> SlopeFit:
    """Slope of log y against log x over the upper range, with a 95 % bootstrap CI.

    Points used: those whose x is among the distinct x values in the top `upper_fraction` of the log
    range (at least the three largest distinct x when there are three). With raw `samples` per point
    (each at least 3 long) every bootstrap replicate resamples each point's samples and refits their
    medians, so the CI reflects measurement noise; otherwise it resamples the fit residuals (scaled by
    sqrt(n / (n - 2))), which needs at least 3 points. `y` defaults to the sample medians. Points with a
    non-positive or non-finite x or y are dropped. The same seed gives the same CI.
    """
    if not 0 < upper_fraction <= 1:
        raise ValueError(f"upper_fraction must be in (0, 1], got {upper_fraction}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    xs = np.asarray(x, dtype=float)
    sample_lists = [np.asarray(s, dtype=float) for s in samples] if samples is not None else None
    if y is None:
        if sample_lists is None:
            raise ValueError("loglog_slope needs y values or raw samples")
        ys = np.array([np.median(s) if s.size else np.nan for s in sample_lists])
    else:
        ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or (sample_lists is not None and len(sample_lists) != xs.size):
        raise ValueError("x, y and samples must have one entry per point")
    valid = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    xs, ys = xs[valid], ys[valid]
    if sample_lists is not None:
        sample_lists = [s for s, ok in zip(sample_lists, valid, strict=True) if ok]
    if np.unique(xs).size < 2:
        return SlopeFit(None, None, None, int(xs.size), None, None, "none",
                        "insufficient data: fewer than 2 distinct sizes")
    used = _upper_mask(xs, upper_fraction)
    lx, ly = np.log(xs[used]), np.log(ys[used])
    slope = float(_slopes(lx, ly))
    fit_range = (float(xs[used].min()), float(xs[used].max()))
    rng = np.random.default_rng(seed)
    used_samples = [s for s, ok in zip(sample_lists, used, strict=True) if ok] if sample_lists else None
    if used_samples and all(s.size >= 3 and np.all(s > 0) for s in used_samples):
        medians = np.empty((n_boot, len(used_samples)))
        for i, s in enumerate(used_samples):
            medians[:, i] = np.median(s[rng.integers(0, s.size, size=(n_boot, s.size))], axis=1)
        boot, method = _slopes(lx, np.log(medians)), "samples"
    elif lx.size >= 3:
        intercept = ly.mean() - slope * lx.mean()
        fitted = intercept + slope * lx
        residuals = (ly - fitted) * math.sqrt(lx.size / (lx.size - 2))
        boot = _slopes(lx, fitted + residuals[rng.integers(0, lx.size, size=(n_boot, lx.size))])
        method = "residuals"
    else:
        return SlopeFit(slope, None, None, int(lx.size), *fit_range, "none",
                        "no CI: 2 points without raw samples")
    low, high = np.percentile(boot, [2.5, 97.5])
    return SlopeFit(slope, float(low), float(high), int(lx.size), *fit_range, method)


def fit_quadratic(x: Sequence[float], y: Sequence[float]) -> PolyFit:
    """Non-negative least-squares fit of t = a + b x + c x^2, residuals relative to y.

    Relative residuals keep short sizes from being swamped by the long ones. The constraint is solved
    exactly by enumerating the non-empty subsets of {1, x, x^2} (no more terms than distinct x values),
    solving each unconstrained and keeping the feasible one (all coefficients >= 0) with the least error;
    fewer terms win ties within rounding error, so exact linear data gets c == 0.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or not np.all(np.isfinite(xs)) or not np.all(np.isfinite(ys)):
        raise ValueError("fit_quadratic needs finite x and y of the same length")
    if np.any(ys <= 0) or np.any(xs <= 0):
        raise ValueError("fit_quadratic needs positive x and y (times or bytes)")
    n_distinct = np.unique(xs).size
    if n_distinct < 2:
        raise ValueError("fit_quadratic needs at least 2 distinct x values")
    scale = xs.max()
    basis = np.stack([np.ones_like(xs), xs / scale, (xs / scale) ** 2], axis=1) / ys[:, None]
    target = np.ones_like(ys)
    tolerance = 1e-12 * xs.size  # a larger subset must beat a smaller one by more than rounding error
    best: tuple[float, np.ndarray] | None = None
    for size in range(1, min(3, n_distinct) + 1):
        for subset in combinations(range(3), size):
            coef, *_ = np.linalg.lstsq(basis[:, subset], target, rcond=None)
            if np.any(coef < 0):
                continue
            full = np.zeros(3)
            full[list(subset)] = coef
            rss = float(np.sum((basis @ full - target) ** 2))
            if best is None or rss < best[0] - tolerance:
                best = (rss, full)
    assert best is not None, "a single non-negative column always fits positive data"
    rss, (a, b, c) = best
    b, c = b / scale, c / scale ** 2
    top = a + b * scale + c * scale ** 2
    return PolyFit(float(a), float(b), float(c), rss, int(xs.size), float(scale), float(c * scale ** 2 / top))


def verdict(slope: SlopeFit) -> str:
    """'linear', 'quadratic' or 'inconclusive' by VERDICT_RULE: the whole 95 % CI must lie in a band."""
    if slope.slope is None or slope.ci_low is None or slope.ci_high is None:
        return "inconclusive"
    if LINEAR_BAND[0] < slope.ci_low and slope.ci_high < LINEAR_BAND[1]:
        return "linear"
    if QUADRATIC_BAND[0] < slope.ci_low and slope.ci_high < QUADRATIC_BAND[1]:
        return "quadratic"
    return "inconclusive"
