"""Compare two results tables configuration by configuration: median A, median B, ratio B/A and whether
the difference is beyond noise.

Configurations are joined on their identity (`bench.results.identity.ConfigKey`: the measured
configuration without run id, timing policy or thread count). A difference counts as real when the
two-sided Mann-Whitney U test on the raw samples gives p < ALPHA; with fewer than MIN_SAMPLES samples
on a side no test is made. Results from different hardware are refused unless forced: a ratio across
machines says nothing about a code change. Rendering is bench.display.compare's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.analysis.replicates import config_table
from bench.analysis.series import sample_list
from bench.analysis.significance import mann_whitney_u
from bench.results.identity import KEY_FIELDS

CONFIG_COLUMNS = ("variant", *KEY_FIELDS)
ALPHA = 0.01
MIN_SAMPLES = 3
COMPARISON_COLUMNS = (*CONFIG_COLUMNS, "median_a", "median_b", "ratio", "p_value", "change")


class CompareError(ValueError):
    """The two tables cannot be compared (different hardware, nothing in common); the message says why."""


@dataclass
class ComparisonResult:
    """Joined configurations with their medians, ratio B/A, p-value and a change label."""

    table: pd.DataFrame
    hardware_a: dict[str, list[str]]
    hardware_b: dict[str, list[str]]
    forced: bool = False
    only_in_a: int = 0
    only_in_b: int = 0
    warnings: list[str] = field(default_factory=list)


def _hardware(df: pd.DataFrame) -> dict[str, list[str]]:
    """Hardware per device kind (`hardware` column; the device name where the environment is unknown)."""
    labels: dict[str, set[str]] = {}
    for _, row in df.iterrows():
        name = row.get("hardware")
        if not isinstance(name, str) or not name:
            name = row.get("device_name") if pd.notna(row.get("device_name")) else "unknown"
        labels.setdefault(str(row.get("device")), set()).add(str(name))
    return {device: sorted(names) for device, names in labels.items()}


def _latest_ok(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ok configuration, its replicated passes combined (bench.analysis.replicates)."""
    ok = config_table(df)
    ok = ok[ok["status"] == "ok"].copy()
    if "timestamp" in ok.columns:
        ok = ok.sort_values("timestamp", kind="stable", na_position="first")
    return ok.drop_duplicates(list(CONFIG_COLUMNS), keep="last")


def _change(samples_a: list[float], samples_b: list[float], ratio: float) -> tuple[float | None, str]:
    if len(samples_a) < MIN_SAMPLES or len(samples_b) < MIN_SAMPLES:
        return None, "not tested"
    _, p = mann_whitney_u(samples_a, samples_b)
    if p >= ALPHA:
        return p, "no clear change"
    return p, "slower" if ratio > 1 else "faster"


def compare(df_a: pd.DataFrame, df_b: pd.DataFrame, *, force: bool = False) -> ComparisonResult:
    """Join ok configurations present in both tables; refuse different hardware unless `force`.

    A configuration's passes are combined (its median is the median of the passes' medians, its samples
    pooled); measured on several hardware, the latest (by timestamp) is used.
    """
    a, b = _latest_ok(df_a), _latest_ok(df_b)
    keys = list(CONFIG_COLUMNS)
    joined = a.merge(b, on=keys, suffixes=("_a", "_b"))
    if joined.empty:
        raise CompareError("the two result sets have no successfully measured configuration in common; "
                           "compare runs of the same sweep")
    hardware_a = _hardware(a.merge(b[keys], on=keys))
    hardware_b = _hardware(b.merge(a[keys], on=keys))
    differs = {d: (names, hardware_b.get(d)) for d, names in hardware_a.items() if names != hardware_b.get(d)}
    if differs and not force:
        detail = "; ".join(f"{d}: A {', '.join(x)} vs B {', '.join(y or [])}"
                           for d, (x, y) in differs.items())
        raise CompareError(f"hardware differs ({detail}); timings from different machines are not "
                           "comparable, pass force=True (--force) to compare anyway")
    warnings = []
    if any("unknown" in names for names in (*hardware_a.values(), *hardware_b.values())):
        warnings.append("hardware of some rows is unknown (no device_name or env_* columns); "
                        "could not check that A and B ran on the same machine")
    rows = []
    for _, row in joined.iterrows():
        median_a, median_b = float(row["median_s_a"]), float(row["median_s_b"])
        ratio = median_b / median_a
        p, change = _change(sample_list(row["samples_s_a"]), sample_list(row["samples_s_b"]), ratio)
        rows.append({**{k: row[k] for k in keys}, "median_a": median_a, "median_b": median_b, "ratio": ratio,
                     "p_value": p, "change": change})
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return ComparisonResult(table=table, hardware_a=hardware_a, hardware_b=hardware_b, forced=bool(differs),
                            only_in_a=len(a) - len(joined), only_in_b=len(b) - len(joined), warnings=warnings)
