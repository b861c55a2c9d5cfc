"""The scaling table: per series, the log-log slope with its interval, the local slope, a quadratic fit,
the verdict and the asymptotic class the layer declares (`complexity` on its class, stored with each
record). Overhead-bound configurations (bench.analysis.overhead) are counted and left out of the fits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from bench.analysis.fits import fit_quadratic, fit_range, loglog_slope, verdict
from bench.analysis.replicates import combined
from bench.analysis.series import (
    MODEL_KEYS,
    SETTING_KEYS,
    Series,
    iter_series,
    ok_rows,
    plain_value,
    thread_count,
)


def _metric(series: Series, metric: str) -> tuple[np.ndarray, list[list[float]]]:
    """Sizes and, per size, the replicate values of the metric (pass medians of time; memory once)."""
    frame = series.frame
    x = frame[series.axis].to_numpy(dtype=float)
    divisor = frame["batch"].to_numpy(dtype=float) if series.per_sequence else np.ones(len(frame))
    if metric == "median_s":
        values = [[m / d for m in medians] or [v / d]
                  for medians, v, d in zip(frame["pass_medians_s"], pd.to_numeric(frame[metric]), divisor, strict=True)]
    else:
        values = [[v / d] for v, d in zip(pd.to_numeric(frame[metric]), divisor, strict=True)]
    return x, values


def _work_evidence(series: Series, used: pd.DataFrame) -> str | None:
    """Why a tokens-coupled series has no evidence that its calls are work-bound, or None when it has."""
    if not series.per_sequence:
        return None
    known = used["overhead_bound"].notna() & used["flops_per_s"].notna()
    if not known.all():
        return "batch = tokens / N but the FLOP rate of some sizes is unknown, so fixed costs cannot be ruled out"
    return None


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
    "range_max", "n_overhead", "n_points", "x_min", "x_max", "passes", "slope", "ci_low", "ci_high", "ci_method",
    "local_slope", "a", "b", "c", "quadratic_share", "share_low", "share_high", "curvature", "verdict", "expected",
    "note",
)


def _row(series: Series, axis: str, metric: str, upper_fraction: float) -> dict:
    """The scaling row of one series: fits over its sizes that are not overhead-bound."""
    work = series.frame[series.frame["overhead_bound"] != True]  # noqa: E712 (None is not bound)
    x_all = series.frame[axis].to_numpy(dtype=float)
    row = {**series.keys, "threads": thread_count(series.frame), "series": series.key, "axis": axis,
           "coupling": series.coupling, "fixed": series.fixed_label,
           "metric": f"{metric} per sequence" if series.per_sequence else metric,
           "n_total": len(x_all), "range_min": plain_value(x_all.min()), "range_max": plain_value(x_all.max()),
           "n_overhead": len(series.frame) - len(work), "expected": _expected(series.frame, axis, metric)}
    x, values = _metric(replace(series, frame=work), metric) if len(work) else (np.array([]), [])
    fit = loglog_slope(x, values, upper_fraction=upper_fraction)
    note = fit.note
    verdict_text = verdict(fit)
    if fit.slope is not None:
        fitted = set(fit_range(x, upper_fraction))
        missing = _work_evidence(series, work[work[axis].isin(fitted)])
        if missing:
            verdict_text, note = "inconclusive", missing
        in_range = [(size, v) for size, v in zip(x, values, strict=True) if size in fitted]
        poly = fit_quadratic([size for size, _ in in_range],
                             [float(np.exp(np.mean(np.log(v)))) for _, v in in_range])
        row.update(a=poly.a, b=poly.b, c=poly.c, quadratic_share=poly.quadratic_share, share_low=poly.share_low,
                   share_high=poly.share_high, curvature=poly.label)
    if row["n_overhead"]:
        note = "; ".join(filter(None, [note, f"{row['n_overhead']} overhead-bound size(s) left out"]))
    row.update(n_points=fit.n_points, x_min=plain_value(fit.x_min), x_max=plain_value(fit.x_max),
               passes=fit.passes, slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high, ci_method=fit.ci_method,
               local_slope=fit.local_slope, verdict=verdict_text, note=note)
    return row


def scaling_table(df: pd.DataFrame, axis: str = "seq_len", metric: str = "median_s", *,
                  upper_fraction: float = 0.5) -> pd.DataFrame:
    """One row per series of ok configurations along `axis`: slope with its interval, the local slope,
    the quadratic fit over the same range, the verdict and the range (bench.analysis.fits.VERDICT_RULE).

    `df` is a results table or its `config_table`. metric is "median_s" (time; the passes' medians are
    the replicates) or "peak_bytes". For "tokens" series the metric is per sequence (divided by the
    batch) and `metric` says so. `threads` reports the measured thread count of the series' rows; it
    is not a grouping key.
    """
    if metric not in ("median_s", "peak_bytes"):
        raise ValueError(f"metric must be 'median_s' or 'peak_bytes', got {metric!r}")
    rows = [_row(series, axis, metric, upper_fraction) for series in iter_series(ok_rows(combined(df), metric), axis)]
    return pd.DataFrame(rows, columns=list(SCALING_COLUMNS))
