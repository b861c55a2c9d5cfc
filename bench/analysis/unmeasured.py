"""The hardware of configurations that never ran, taken from the measured rows beside them.

A skipped configuration never reached a worker, so its record has no device name (and, when it came
before the first measurement, no environment either). Its hardware column is then empty and it would
form a series, a panel or a table row of its own, apart from the measured sizes of its series and
contradicting them. `fill_hardware` gives such a row the hardware of the rows it belongs with: those of
its series (same variant and setting) in the same run, else those of the same device in the same run and
environment, else of the same device in the same run; only where that hardware is unambiguous (one
name), so rows of a run on several machines are never guessed.
"""

from __future__ import annotations

import pandas as pd

from bench.results.identity import HARDWARE_FIELD, SETTING_FIELDS

# The columns filled: the device's name and the table's hardware key (bench.results.table).
FILLED = (HARDWARE_FIELD, "hardware")
# Where a row's hardware is looked up, most specific first: its series, its run's environment, its run.
SCOPES = (("run_id", "model", "options", *SETTING_FIELDS), ("run_id", "env_id", "device"), ("run_id", "device"))


def _missing(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(object).map(lambda v: isinstance(v, str) and not v)


def _keys(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    present = [c for c in columns if c in df.columns]
    parts = df[present].astype(object).where(df[present].notna(), "").astype(str)
    return parts.apply(tuple, axis=1) if len(df) else pd.Series(dtype=object)


def _fill_column(df: pd.DataFrame, column: str) -> None:
    for scope in SCOPES:
        missing = _missing(df[column])
        if not missing.any():
            return
        keys = _keys(df, scope)
        known = df.loc[~missing, column].groupby(keys[~missing]).unique()
        unique = {key: names[0] for key, names in known.items() if len(names) == 1}
        fill = keys[missing].map(unique)
        df.loc[fill.dropna().index, column] = fill.dropna()


def fill_hardware(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every row that has no hardware given that of its series' (else its device's) measured
    rows where that is one name; a copy, or `df` itself where no column has both known and missing values."""
    columns = [c for c in FILLED if c in df.columns and 0 < _missing(df[c]).sum() < len(df)]
    if not columns:
        return df
    out = df.copy()
    for column in columns:
        out[column] = out[column].astype(object)
        _fill_column(out, column)
    return out
