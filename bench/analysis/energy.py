"""Energy per token against sequence length: the energy pass's figures (bench.measure.passes.energy) per
configuration, and why the rows without figures have none.

`energy_table` has one row per variant, setting (SETTING_KEYS, hardware included) and shape (B, N, d, h)
with the median over that configuration's rows that carry figures (its replicated passes, of which only
the first measures energy, and several files): gross and net J/token and J/call, the idle power and the
GPU's conditions after the window, the counters they came from and how many rows there were.
"""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import SETTING_KEYS
from bench.results.identity import HARDWARE_FIELD

GROUP = ("variant", "model", "options", *SETTING_KEYS, "batch", "seq_len", "d_model", "n_heads")
FIGURES = ("energy_j_per_token", "energy_net_j_per_token", "energy_j_per_call", "energy_net_j_per_call",
           "energy_idle_w", "gpu_temperature_c", "gpu_power_w", "gpu_sm_clock_mhz")
COLUMNS = (*GROUP, *FIGURES, "energy_source", "n_records")


def _measured(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "energy_j_per_token" not in df.columns:
        return df.iloc[0:0]
    return df[(df["status"] == "ok") & pd.to_numeric(df["energy_j_per_token"], errors="coerce").notna()]


def energy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Median energy figures per configuration (see the module docstring), sorted by variant, setting and N;
    empty (with COLUMNS) when no row has figures."""
    rows = _measured(df)
    if rows.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    rows = rows.copy()
    for name in GROUP:
        if name not in rows.columns:
            rows[name] = None
        rows[name] = rows[name].astype(object).where(rows[name].notna(), "")
    for name in (*FIGURES, "energy_source"):
        if name not in rows.columns:
            rows[name] = None
    for name in FIGURES:
        rows[name] = pd.to_numeric(rows[name], errors="coerce")
    grouped = rows.groupby(list(GROUP), sort=False, dropna=False)
    out = grouped[list(FIGURES)].median()
    out["energy_source"] = grouped["energy_source"].agg(lambda s: "/".join(sorted({str(v) for v in s})))
    out["n_records"] = grouped.size()
    out = out.reset_index()
    for name in ("batch", "seq_len", "d_model", "n_heads"):
        out[name] = pd.to_numeric(out[name]).astype("int64")
    order = ["variant", "device", HARDWARE_FIELD, "dtype", "mode", "batch", "d_model", "n_heads", "seq_len"]
    return out.sort_values(order, kind="stable").reset_index(drop=True)[list(COLUMNS)]


def energy_reasons(df: pd.DataFrame) -> dict[str, int]:
    """Why rows that ran have no energy figures: each distinct reason and how many rows gave it, in order of
    first appearance."""
    if df.empty or "energy_reason" not in df.columns:
        return {}
    ran = df[df["status"] == "ok"]
    figures = pd.to_numeric(ran["energy_j_per_token"], errors="coerce")
    reasons = [str(r) for r in ran.loc[figures.isna(), "energy_reason"] if isinstance(r, str) and r]
    return {reason: reasons.count(reason) for reason in dict.fromkeys(reasons)}
