"""Mann-Whitney U test on timing values, through scipy.stats.mannwhitneyu, and the Benjamini-Hochberg
adjustment of several p-values (scipy.stats.false_discovery_control).

Timing samples are skewed and heavy-tailed, so a rank test is used rather than a t-test. By default the
normal approximation with tie and continuity corrections is used (method="asymptotic"), so p-values do
not depend on sample sizes crossing scipy's exact-method threshold; `exact=True` asks for the exact
distribution (used for a handful of replicates, where the approximation is poor), falling back to the
approximation when values tie. U is the statistic of the first sample. The input checks here give this
project's error messages; scipy does the statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALTERNATIVES = ("two-sided", "less", "greater")


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(U1, two-sided p-value) for H0: a and b come from the same distribution."""
    return mann_whitney_u_one_sided(a, b, alternative="two-sided")


def mann_whitney_u_one_sided(a: Sequence[float], b: Sequence[float],
                             alternative: str = "less", *, exact: bool = False) -> tuple[float, float]:
    """(U1, p-value) for the given alternative: "less" means a tends to be smaller than b (e.g. faster).

    "greater" is the mirror image and "two-sided" is the test of mann_whitney_u. When every sample is
    identical the p-value is 1.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("the Mann-Whitney U test needs at least one sample on each side")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("samples contain NaN or infinity")
    if np.unique(np.concatenate([x, y])).size == 1:
        return float(x.size * y.size / 2), 1.0
    from scipy import stats  # imported here: scipy.stats takes about a second, and only compare and the gate test

    ties = np.unique(np.concatenate([x, y])).size < x.size + y.size
    method = "exact" if exact and not ties else "asymptotic"
    result = stats.mannwhitneyu(x, y, alternative=alternative, method=method, use_continuity=True)
    return float(result.statistic), min(1.0, max(0.0, float(result.pvalue)))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """The Benjamini-Hochberg adjusted p-values (q-values) of a family of tests, in the input order:
    rejecting every q < alpha keeps the expected share of false discoveries at most alpha."""
    if not p_values:
        return []
    from scipy import stats

    return [float(q) for q in stats.false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]
