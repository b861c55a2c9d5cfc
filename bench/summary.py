"""The one-screen table printed at the end of a run: per layer, what ran and how time scaled."""

from __future__ import annotations

import pandas as pd

from bench.units import format_seconds


def _slope_text(row: pd.Series | None) -> str:
    if row is None or row["slope"] is None or pd.isna(row["slope"]):
        return "-"
    if row["ci_low"] is None or pd.isna(row["ci_low"]):
        return f"{row['slope']:.2f}"
    return f"{row['slope']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def render_summary(df: pd.DataFrame, scaling: pd.DataFrame) -> str:
    """Plain-text table, one row per variant and setting: statuses, the longest sequence that ran, its time,
    and the slope of the series with the most points (a row per setting, so causal and bidirectional
    runs of one layer are never merged)."""
    if df.empty:
        return "no results"
    header = ("variant", "device", "dtype", "mode", "causal", "scope", "ok", "failed", "skipped", "longest N",
              "time there", "time~N^k (95% CI)", "verdict")
    lines = []
    keys = ["variant", "device", "dtype", "mode", "causal", "scope"]
    for (variant, device, dtype, mode, causal, scope), group in df.groupby(keys, sort=False):
        ok = group[group["status"] == "ok"]
        failed = int(group["status"].isin(["oom", "error", "timeout"]).sum())
        skipped = int((group["status"] == "skipped").sum())
        longest = ok.loc[ok["seq_len"].idxmax()] if len(ok) else None
        same = [scaling[key].astype(str) == str(value) for key, value in zip(keys, (variant, device, dtype, mode,
                                                                                     causal, scope), strict=True)]
        fits = scaling[pd.concat(same, axis=1).all(axis=1)] if len(scaling) else scaling
        fit = fits.loc[fits["n_total"].idxmax()] if len(fits) else None
        lines.append((variant, device, dtype, mode, "causal" if str(causal) == "True" else "-", scope,
                      str(len(ok)), str(failed), str(skipped),
                      str(int(longest["seq_len"])) if longest is not None else "-",
                      format_seconds(longest["median_s"]) if longest is not None else "-",
                      _slope_text(fit), fit["verdict"] if fit is not None else "-"))
    widths = [max(len(str(r[i])) for r in (header, *lines)) for i in range(len(header))]
    render = [" | ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in (header, *lines)]
    render.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(render)
