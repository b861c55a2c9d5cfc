"""Fits of one series: the log-log slope with an honest 95 % interval, a non-negative quadratic with an
interval on its N^2 term, the local slope at the top, and the verdict.

Every point may carry several replicate values (one per replicated pass). The interval is that of a
two-level (random-effects) model, log y_ij = a + b log x_i + u_i + e_ij: per-size drift and lack of fit
(u_i) and the between-pass spread (e_ij) are both in the scatter of the per-size means around the line,
so the slope's Student-t interval on those means (n - 2 degrees of freedom) holds all three. Its
variance is never taken below the between-pass variance over the replicates, so a fit that happens to
pass close to few points does not claim more than the passes show. tests/bench/analysis/
test_fit_coverage.py checks the coverage on synthetic series with autocorrelated samples and drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import stdtrit  # Student t quantiles; scipy.stats costs ~1 s to import

LINEAR_BAND = (0.7, 1.3)
QUADRATIC_BAND = (1.6, 2.4)
MIN_SIZES = 4
FIT_SIZES = 5
CONFIDENCE = 0.95
TOO_FEW = "too few sizes"
VERDICT_RULE = (
    "The log-log slope of the metric against the swept axis is fitted by least squares on the mean log "
    "value of each size (its replicated passes), over the upper half of the measured range on a log "
    f"scale and at least the {FIT_SIZES} largest sizes where there are that many; overhead-bound sizes are "
    "left out. Its 95 % interval "
    "is the Student-t interval of that fit (n - 2 degrees of freedom), whose scatter holds the drift between "
    "sizes, the lack of fit and the spread between passes, and which is never narrower than the passes "
    f"alone allow. Verdict: **linear** when the whole interval lies inside ({LINEAR_BAND[0]}, "
    f"{LINEAR_BAND[1]}); **quadratic** when it lies inside ({QUADRATIC_BAND[0]}, {QUADRATIC_BAND[1]}); "
    f"**{TOO_FEW}** below {MIN_SIZES} distinct sizes that are not overhead-bound; otherwise "
    "**inconclusive**. A series whose batch is tokens / N also needs evidence that its calls are "
    "work-bound (bench.analysis.overhead). The local slope is that of the last doubling (the two largest "
    "sizes). The quadratic a + b x + c x² is fitted over the same range; its N² share at the largest size "
    "has an interval from the c coefficient's t interval, and it is called curvature unless that interval "
    "lies above zero."
)


@dataclass(frozen=True)
class SlopeFit:
    """Log-log slope over the upper range with its 95 % interval; slope is None below MIN_SIZES sizes.

    x_min/x_max is the range fitted; `local_slope` the slope between its two largest sizes;
    `passes` the median number of replicates per size.
    """

    slope: float | None
    ci_low: float | None
    ci_high: float | None
    n_points: int
    x_min: float | None
    x_max: float | None
    local_slope: float | None = None
    passes: int = 0
    ci_method: str = "none"
    note: str = ""


@dataclass(frozen=True)
class PolyFit:
    """t = a + b x + c x^2 with a, b, c >= 0 (relative least squares).

    quadratic_share = c x_max^2 / t(x_max): how much of the largest size's cost the N^2 term explains;
    share_low/share_high its 95 % interval (None below 4 sizes), `significant` whether it excludes zero.
    """

    a: float
    b: float
    c: float
    rss: float
    n_points: int
    x_max: float
    quadratic_share: float
    share_low: float | None = None
    share_high: float | None = None
    significant: bool = False

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.a + self.b * x + self.c * x ** 2

    @property
    def label(self) -> str:
        """'N² term' when the quadratic coefficient is significantly above zero, else 'curvature'."""
        return "N² term" if self.significant else "curvature"


def fit_range(x: Sequence[float], upper_fraction: float = 0.5) -> np.ndarray:
    """The distinct sizes a fit uses: those in the top `upper_fraction` of the log range, and at least
    the FIT_SIZES largest (all of them when there are fewer): with 4 sizes a t interval has 2 degrees of
    freedom, with 5 it has 3 and half the width."""
    if not 0 < upper_fraction <= 1:
        raise ValueError(f"upper_fraction must be in (0, 1], got {upper_fraction}")
    distinct = np.unique(np.asarray(x, dtype=float))
    if distinct.size == 0:
        return distinct
    logs = np.log(distinct)
    cut = logs[-1] - upper_fraction * (logs[-1] - logs[0])
    keep = distinct[logs >= cut - 1e-12]
    return keep if keep.size >= FIT_SIZES else distinct[-FIT_SIZES:]


def _replicates(x: Sequence[float], y: Sequence[Sequence[float] | float]) -> dict[float, np.ndarray]:
    """Positive finite replicate values by positive finite size (repeated sizes merge)."""
    if len(x) != len(y):
        raise ValueError("x and y must have one entry per point")
    by_size: dict[float, list[float]] = {}
    for size, values in zip(x, y, strict=True):
        values = np.atleast_1d(np.asarray(values, dtype=float))
        values = values[np.isfinite(values) & (values > 0)]
        if math.isfinite(size) and size > 0 and values.size:
            by_size.setdefault(float(size), []).extend(values.tolist())
    return {size: np.asarray(values) for size, values in sorted(by_size.items())}


def _between_pass_variance(logs: list[np.ndarray]) -> tuple[float, float]:
    """Pooled variance of the replicates around their size's mean, and the mean replicates per size."""
    dof = sum(v.size - 1 for v in logs)
    counts = float(np.mean([v.size for v in logs]))
    if dof == 0:
        return 0.0, counts
    return sum(float(np.sum((v - v.mean()) ** 2)) for v in logs) / dof, counts


def loglog_slope(x: Sequence[float], y: Sequence[Sequence[float] | float], *, upper_fraction: float = 0.5,
                 confidence: float = CONFIDENCE) -> SlopeFit:
    """Slope of log y against log x over the upper range, with the interval of the module docstring.

    `y` holds one value or a list of replicate values (pass medians) per point. Points with a
    non-positive or non-finite x or y are dropped; sizes repeated across points are merged.
    """
    data = _replicates(x, y)
    used = fit_range(list(data), upper_fraction)
    logs = [np.log(data[size]) for size in used]
    lx = np.log(used)
    means = np.array([v.mean() for v in logs])
    passes = int(np.median([v.size for v in logs])) if logs else 0
    local = float((means[-1] - means[-2]) / (lx[-1] - lx[-2])) if used.size >= 2 else None
    span = (float(used.min()), float(used.max())) if used.size else (None, None)
    if used.size < MIN_SIZES:
        return SlopeFit(None, None, None, int(used.size), *span, local, passes, "none",
                        f"{TOO_FEW}: {used.size} (a verdict needs {MIN_SIZES})")
    centred = lx - lx.mean()
    sxx = float(centred @ centred)
    slope = float(centred @ (means - means.mean()) / sxx)
    residuals = means - means.mean() - slope * centred
    dof = used.size - 2
    variance = float(residuals @ residuals) / dof
    within, counts = _between_pass_variance(logs)
    variance = max(variance, within / counts)
    half = float(stdtrit(dof, 0.5 + confidence / 2)) * math.sqrt(variance / sxx)
    return SlopeFit(slope, slope - half, slope + half, int(used.size), *span, local, passes, "random-effects t")


def fit_quadratic(x: Sequence[float], y: Sequence[float], *, confidence: float = CONFIDENCE) -> PolyFit:
    """Non-negative least-squares fit of t = a + b x + c x^2, residuals relative to y, with an interval on
    the N^2 share at the largest size.

    Relative residuals keep short sizes from being swamped by the long ones. The constraint is solved
    exactly by enumerating the non-empty subsets of {1, x, x^2} (no more terms than distinct x values),
    solving each unconstrained and keeping the feasible one (all coefficients >= 0) with the least error;
    fewer terms win ties within rounding error, so exact linear data gets c == 0. The share's interval
    comes from the unconstrained fit's t interval on c (n - 3 degrees of freedom, 4 or more sizes).
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
    rss, coefficients = best
    top = float(coefficients.sum())  # the fitted value at x = scale, in scaled units
    low = high = None
    significant = False
    if n_distinct >= 4 and xs.size >= 4:
        low, high = _c_interval(basis, target, xs.size, confidence)
        significant = low > 0
        share = coefficients[2] / top
        # The interval comes from the unconstrained fit, the point from the non-negative one: widen the
        # interval to hold the point it is printed beside.
        low, high = (min(max(v, 0.0), 1.0) for v in (min(low / top, share), max(high / top, share)))
    a, b, c = coefficients
    return PolyFit(float(a), float(b / scale), float(c / scale ** 2), rss, int(xs.size), float(scale),
                   float(c / top), low, high, significant)


def _c_interval(basis: np.ndarray, target: np.ndarray, n: int, confidence: float) -> tuple[float, float]:
    """The t interval of the x^2 coefficient (in scaled units) of the unconstrained relative fit."""
    coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
    residual = target - basis @ coef
    dof = n - 3
    covariance = float(residual @ residual) / dof * np.linalg.pinv(basis.T @ basis)
    half = float(stdtrit(dof, 0.5 + confidence / 2)) * math.sqrt(max(covariance[2, 2], 0.0))
    return float(coef[2] - half), float(coef[2] + half)


def verdict(slope: SlopeFit) -> str:
    """'linear', 'quadratic', 'inconclusive' or TOO_FEW by VERDICT_RULE: the whole interval must lie in a band."""
    if slope.slope is None or slope.ci_low is None or slope.ci_high is None:
        return TOO_FEW if slope.note.startswith(TOO_FEW) else "inconclusive"
    if LINEAR_BAND[0] < slope.ci_low and slope.ci_high < LINEAR_BAND[1]:
        return "linear"
    if QUADRATIC_BAND[0] < slope.ci_low and slope.ci_high < QUADRATIC_BAND[1]:
        return "quadratic"
    return "inconclusive"
