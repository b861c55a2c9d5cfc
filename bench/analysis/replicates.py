"""Configurations measured in several replicated passes, as one row each: the form analysis reads.

A results table has one row per (configuration, pass). `config_table` groups the rows of each
configuration (`bench.results.identity.KEY_FIELDS` and the hardware) into one row with the table's
columns, where
- `status` is ok when any pass was ok (a later pass that failed is in the raw table's failures);
- `median_s` is the median of the ok passes' medians, `pass_medians_s` those medians in pass order and
  `n_passes` their number; `samples_s`, `n_samples`, `iqr_s`, `p10_s`, `p90_s` pool the ok passes'
  samples (for display: they are autocorrelated and must not drive an interval);
- memory, FLOPs, energy and the cold call come from the first pass, the only one that measures them, and
  `flops_per_s`, `tokens_per_s` and `gemm_fraction` (flops_per_s over the machine-speed probe's rate,
  `probe_flops_per_s`) are recomputed from the median;
- `overhead_bound` and `overhead_reason` say whether the call is dominated by a fixed cost
  (bench.analysis.overhead).
A table without a `pass` column (one measurement per configuration) gives one pass per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.overhead import mark_overhead, work_of
from bench.analysis.series import sample_list
from bench.results.identity import KEY_FIELDS
from bench.results.stats import Summary

GROUP_KEYS = (*KEY_FIELDS, "hardware")
REPLICATE_COLUMNS = ("pass_medians_s", "n_passes")


def _combined(group: pd.DataFrame) -> dict:
    ok = group[group["status"] == "ok"]
    row = (ok.iloc[0] if len(ok) else group.iloc[-1]).to_dict()
    medians = [float(m) for m in pd.to_numeric(ok["median_s"], errors="coerce") if pd.notna(m) and m > 0]
    row.update(pass_medians_s=medians, n_passes=len(medians))
    if not medians:
        row["gemm_fraction"] = None
        return row
    samples = [s for value in ok["samples_s"] for s in sample_list(value)]
    median = float(np.median(medians))
    summary = Summary.from_samples(samples) if samples else None
    row.update(median_s=median, samples_s=samples, n_samples=len(samples),
               iqr_s=summary.iqr if summary else None, p10_s=summary.p10 if summary else None,
               p90_s=summary.p90 if summary else None, mean_s=summary.mean if summary else None,
               min_s=summary.min if summary else None, noisy=summary.noisy if summary else None,
               tokens_per_s=int(row["batch"]) * int(row["seq_len"]) / median)
    work = work_of(row)
    row["flops_per_s"] = work / median if work else None
    probe = row.get("probe_flops_per_s")
    has_probe = probe is not None and not pd.isna(probe) and probe > 0
    row["gemm_fraction"] = row["flops_per_s"] / probe if has_probe and row["flops_per_s"] else None
    return row


def config_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and hardware, its passes combined (see the module docstring)."""
    columns = list(dict.fromkeys([*df.columns, *REPLICATE_COLUMNS, "gemm_fraction", "overhead_bound",
                                  "overhead_reason"]))
    if df.empty:
        return pd.DataFrame(columns=columns)
    data = df.copy()
    if "pass" not in data.columns:
        data["pass"] = 0
    if "hardware" not in data.columns:
        data["hardware"] = None
    keys = pd.DataFrame({k: data[k].astype(object).where(data[k].notna(), "").astype(str) for k in GROUP_KEYS})
    data["_order"] = range(len(data))
    data = data.assign(_group=keys.apply(tuple, axis=1))
    data = data.sort_values(["pass", "_order"], kind="stable")
    rows = [_combined(group) for _, group in data.groupby("_group", sort=False)]
    out = pd.DataFrame(rows).sort_values("_order", kind="stable").drop(columns=["_order", "_group"])
    out = out.reset_index(drop=True)
    return mark_overhead(out).reindex(columns=columns)


def combined(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with one row per configuration: a results table's passes combined by `config_table`, or `df`
    itself when it is already such a table (so a caller that has one computes it only once)."""
    return df if "pass_medians_s" in df.columns else config_table(df)
