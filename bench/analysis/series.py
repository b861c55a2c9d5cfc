"""Series of a results table: configurations that differ only along one swept axis.

Along `seq_len`, points with a fixed batch form "fixed" series first; points left over whose
batch * seq_len is constant form "tokens" series (the paper's coupling, batch = tokens / seq_len). In a
tokens series time is divided by the batch: the metric becomes time (or memory) *per sequence*, whose
exponent is 1 for a linear and 2 for a quadratic layer in both couplings, so one verdict rule serves
both. Along `d_model`, fixed-head series come first and leftovers with a constant head size
(d_model / n_heads) form "head_dim" series. Each point belongs to at most one series per axis. Rows of
different hardware (device_name), dtype, mode, scope, causality or variant never share a series;
repeated measurements of one size stay in it. Each series is identified by a
`bench.results.identity.SeriesKey`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.results.identity import HARDWARE_FIELD, SETTING_FIELDS, SeriesKey, compile_mode, flag

# Columns a series holds fixed besides its shape: the setting and the hardware (the measured thread
# count is not a key: failed rows have no timing and so no thread count).
SETTING_KEYS = (*SETTING_FIELDS, HARDWARE_FIELD)
MODEL_KEYS = ("variant", "model", "options")

# Per axis: (coupling, columns held constant, whether the metric is divided by the batch), in priority order.
COUPLINGS = {
    "seq_len": (("fixed", ("batch", "d_model", "n_heads"), False),
                ("tokens", ("tokens", "d_model", "n_heads"), True)),
    "batch": (("fixed", ("seq_len", "d_model", "n_heads"), False),),
    "d_model": (("fixed", ("batch", "seq_len", "n_heads"), False),
                ("head_dim", ("batch", "seq_len", "head_dim"), False)),
}


@dataclass(frozen=True)
class Series:
    """Rows that differ only along `axis`; `keys` and `fixed` hold the constant columns (as in the table),
    `per_sequence` the coupling, `key` the series' identity."""

    axis: str
    coupling: str
    keys: dict
    fixed: dict
    per_sequence: bool
    frame: pd.DataFrame

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(
            axis=self.axis, coupling=self.coupling, fixed=tuple((k, int(v)) for k, v in self.fixed.items()),
            causal=flag(self.keys["causal"]), dtype=str(self.keys["dtype"]),
            device=str(self.keys["device"]), mode=str(self.keys["mode"]), scope=str(self.keys["scope"]),
            hardware=str(self.keys.get(HARDWARE_FIELD) or ""), model=str(self.keys.get("model") or ""),
            options=str(self.keys.get("options") or "{}"), compile=compile_mode(self.keys.get("compile")),
            tf32=flag(self.keys.get("tf32")))

    @property
    def fixed_label(self) -> str:
        return self.key.fixed_label()


def sample_list(value: object) -> list[float]:
    """Raw samples of one row as floats: accepts a list, a JSON list string or a missing value."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [float(v) for v in value]


def plain_value(value: object) -> object:
    """A numpy scalar as its Python value, integral floats as int (pandas turns ints with gaps to floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _prepared(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with the derived columns tokens/head_dim and grouping keys that groupby can handle."""
    out = df.copy()
    for name in (*SETTING_KEYS, *MODEL_KEYS):
        if name not in out.columns:
            out[name] = None
        out[name] = out[name].astype(object).where(out[name].notna(), "")
    for name in ("batch", "seq_len", "d_model", "n_heads"):
        out[name] = pd.to_numeric(out[name]).astype("int64")
    out["tokens"] = out["batch"] * out["seq_len"]
    out["head_dim"] = out["d_model"] // out["n_heads"]
    return out


def iter_series(df: pd.DataFrame, axis: str, *, by_model: bool = True,
                include_singletons: bool = False) -> Iterator[Series]:
    """Series of `df` along `axis` (see the module docstring for the couplings and the partition rule).

    by_model=False puts every variant of a setting into the same series (for comparisons between models).
    include_singletons=True also yields points that belong to no series of two or more sizes.
    """
    if axis not in COUPLINGS:
        raise ValueError(f"axis must be one of {', '.join(COUPLINGS)}, got {axis!r}")
    if df.empty:
        return
    data = _prepared(df)
    group_keys = [*(MODEL_KEYS if by_model else ()), *SETTING_KEYS]
    covered = pd.Series(False, index=data.index)
    for coupling, fixed_cols, per_sequence in COUPLINGS[axis]:
        remaining = data[~covered]
        if remaining.empty:
            break
        for key, group in remaining.groupby([*group_keys, *fixed_cols], sort=False, dropna=False):
            if group[axis].nunique() < 2:
                continue
            covered[group.index] = True
            values = dict(zip([*group_keys, *fixed_cols], key, strict=True))
            yield Series(axis, coupling, {k: plain_value(values[k]) for k in group_keys},
                         {k: plain_value(values[k]) for k in fixed_cols}, per_sequence,
                         group.sort_values(axis, kind="stable"))
    if include_singletons:
        coupling, fixed_cols, _ = COUPLINGS[axis][0]
        for _, row in data[~covered].iterrows():
            yield Series(axis, coupling, {k: plain_value(row[k]) for k in group_keys},
                         {k: plain_value(row[k]) for k in fixed_cols}, False, data.loc[[row.name]])


def ok_rows(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    rows = df[df["status"] == "ok"]
    if metric is not None:
        values = pd.to_numeric(rows[metric], errors="coerce")
        rows = rows[values.notna() & (values > 0)]
    return rows


def thread_count(frame: pd.DataFrame) -> int | str | None:
    """Measured thread count of a series (informational): a number, 'a/b' when mixed, None if unknown."""
    if "threads" not in frame.columns:
        return None
    counts = sorted({int(t) for t in pd.to_numeric(frame["threads"], errors="coerce").dropna()})
    if not counts:
        return None
    return counts[0] if len(counts) == 1 else "/".join(str(c) for c in counts)
