"""The one-screen table printed at the end of a run: per layer, what ran and how time scaled."""

from __future__ import annotations

import pandas as pd

from bench.analysis.replicates import combined
from bench.config.units import format_seconds
from bench.display.table import text_table
from bench.results.identity import SETTING_FIELDS, ConfigKey, SeriesKey
from bench.results.record import FAILED

HEADERS = ("variant", "device", "dtype", "mode", "causal", "scope", "ok", "failed", "skipped", "longest N",
           "time there", "time~N^k (95% CI)", "verdict")


def _slope_text(row: pd.Series | None) -> str:
    if row is None or row["slope"] is None or pd.isna(row["slope"]):
        return "-"
    if row["ci_low"] is None or pd.isna(row["ci_low"]):
        return f"{row['slope']:.2f}"
    return f"{row['slope']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def _identity(key: ConfigKey | SeriesKey) -> tuple:
    """The variant and setting of a configuration or series: what one summary row holds."""
    return (key.variant, *(getattr(key, name) for name in SETTING_FIELDS))


def _fit(scaling: pd.DataFrame, identity: tuple) -> pd.Series | None:
    """The scaling row with the most points among the series of this variant and setting."""
    if scaling.empty:
        return None
    fits = scaling[[_identity(key) == identity for key in scaling["series"]]]
    return fits.loc[fits["n_total"].idxmax()] if len(fits) else None


def render_summary(df: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Plain-text table, one row per variant and setting: statuses of its configurations (passes
    combined), the longest sequence that ran, its time, and the slope of the series with the most points
    (a row per setting, so causal and bidirectional runs of one layer are never merged). `df` is a
    results table or its config_table; `scaling` is `scaling_table(df, "seq_len")`."""
    if df.empty:
        return "no results"
    df = combined(df)
    rows = []
    for _, group in df.groupby(["variant", *SETTING_FIELDS], sort=False):
        key = ConfigKey.from_dict(group.iloc[0])
        ok = group[group["status"] == "ok"]
        longest = ok.loc[ok["seq_len"].idxmax()] if len(ok) else None
        fit = _fit(scaling, _identity(key))
        rows.append((key.variant, key.device, key.dtype, key.mode, "causal" if key.causal else "-", key.scope,
                     len(ok), int(group["status"].isin(FAILED).sum()),
                     int((group["status"] == "skipped").sum()),
                     int(longest["seq_len"]) if longest is not None else "-",
                     format_seconds(longest["median_s"]) if longest is not None else "-",
                     _slope_text(fit), fit["verdict"] if fit is not None else "-"))
    return text_table(HEADERS, rows, sep=" | ", rule="-+-")
