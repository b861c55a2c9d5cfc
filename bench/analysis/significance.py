"""Mann-Whitney U test on raw timing samples (normal approximation with tie and continuity corrections).

Timing samples are skewed and heavy-tailed, so a rank test is used rather than a t-test. Conventions
follow scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True): U is the statistic of the
first sample, U1 = R1 - n1 (n1 + 1) / 2, where R1 is the sum of its ranks in the pooled sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ALTERNATIVES = ("two-sided", "less", "greater")


def _u_and_z_parts(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(U1, mean of U under H0, standard deviation of U under H0 with the tie correction)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("the Mann-Whitney U test needs at least one sample on each side")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("samples contain NaN or infinity")
    pooled = np.concatenate([x, y])
    values, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    n1, n2, n = x.size, y.size, pooled.size
    u1 = float(average_rank[inverse[:n1]].sum() - n1 * (n1 + 1) / 2.0)
    ties = float(np.sum(counts.astype(float) ** 3 - counts))
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    return u1, n1 * n2 / 2.0, math.sqrt(max(variance, 0.0))


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(U1, two-sided p-value) for H0: a and b come from the same distribution."""
    return mann_whitney_u_one_sided(a, b, alternative="two-sided")


def mann_whitney_u_one_sided(a: Sequence[float], b: Sequence[float],
                             alternative: str = "less") -> tuple[float, float]:
    """(U1, p-value) for the given alternative: "less" means a tends to be smaller than b (e.g. faster).

    "greater" is the mirror image and "two-sided" is the test of mann_whitney_u. When every sample is
    identical the p-value is 1.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    u1, mean, sd = _u_and_z_parts(a, b)
    if sd == 0.0:
        return u1, 1.0
    n1n2 = 2.0 * mean
    if alternative == "greater":
        statistic = u1
    elif alternative == "less":
        statistic = n1n2 - u1
    else:
        statistic = max(u1, n1n2 - u1)
    p = _upper_tail((statistic - mean - 0.5) / sd)
    if alternative == "two-sided":
        p *= 2.0
    return u1, min(1.0, max(0.0, p))
