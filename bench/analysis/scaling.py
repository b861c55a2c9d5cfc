"""The scaling table: per series, the log-log slope with its CI, a quadratic fit, the verdict and the
asymptotic class the layer declares (`complexity` on its class, stored with each record)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.fits import fit_quadratic, loglog_slope, verdict
from bench.analysis.series import (
    MODEL_KEYS,
    SETTING_KEYS,
    Series,
    iter_series,
    ok_rows,
    plain_value,
    sample_list,
    thread_count,
)


def _metric(series: Series, metric: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
    frame = series.frame
    x = frame[series.axis].to_numpy(dtype=float)
    divisor = frame["batch"].to_numpy(dtype=float) if series.per_sequence else np.ones(len(frame))
    y = pd.to_numeric(frame[metric]).to_numpy(dtype=float) / divisor
    samples = None
    if metric == "median_s":
        samples = [np.asarray(sample_list(v)) / d for v, d in zip(frame["samples_s"], divisor, strict=True)]
    return x, y, samples


def _expected(frame: pd.DataFrame, axis: str, metric: str) -> str | None:
    """The asymptotic class to expect (informational; the verdict never uses it).

    Along batch everything is linear; along d_model the projections (8 B N d^2 FLOPs) make every layer
    quadratic asymptotically; along seq_len it is what the layer declares (`complexity` on its class).
    """
    if axis == "batch":
        return "linear"
    if axis == "d_model":
        return "quadratic"
    column = "complexity_time" if metric == "median_s" else "complexity_memory"
    declared = frame[column].dropna().unique() if column in frame.columns else []
    return str(declared[0]) if len(declared) == 1 else None


SCALING_COLUMNS = (
    *MODEL_KEYS, *SETTING_KEYS, "threads", "series", "axis", "coupling", "fixed", "metric", "n_total", "range_min",
    "range_max",
    "n_points", "x_min", "x_max", "slope", "ci_low", "ci_high", "ci_method", "a", "b", "c", "quadratic_share",
    "verdict", "expected", "note",
)


def scaling_table(df: pd.DataFrame, axis: str = "seq_len", metric: str = "median_s", *,
                  upper_fraction: float = 0.5, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per series of ok rows along `axis`: slope with CI, quadratic fit, verdict and range.

    metric is "median_s" (time; raw samples drive the CI) or "peak_bytes". For "tokens" series the metric
    is per sequence (divided by the batch) and `metric` says so. `threads` reports the measured thread
    count of the series' rows; it is not a grouping key.
    """
    if metric not in ("median_s", "peak_bytes"):
        raise ValueError(f"metric must be 'median_s' or 'peak_bytes', got {metric!r}")
    rows = []
    for series in iter_series(ok_rows(df, metric), axis):
        x, y, samples = _metric(series, metric)
        fit = loglog_slope(x, y, samples=samples, upper_fraction=upper_fraction, n_boot=n_boot, seed=seed)
        poly = fit_quadratic(x, y)
        rows.append({
            **series.keys, "threads": thread_count(series.frame), "series": series.key, "axis": axis,
            "coupling": series.coupling,
            "fixed": series.fixed_label,
            "metric": f"{metric} per sequence" if series.per_sequence else metric,
            "n_total": len(x), "range_min": plain_value(x.min()), "range_max": plain_value(x.max()),
            "n_points": fit.n_points, "x_min": plain_value(fit.x_min), "x_max": plain_value(fit.x_max),
            "slope": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high, "ci_method": fit.ci_method,
            "a": poly.a, "b": poly.b, "c": poly.c, "quadratic_share": poly.quadratic_share,
            "verdict": verdict(fit), "expected": _expected(series.frame, axis, metric),
            "note": fit.note,
        })
    return pd.DataFrame(rows, columns=list(SCALING_COLUMNS))
