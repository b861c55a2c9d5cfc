"""Compare two results tables configuration by configuration: median A, median B, ratio B/A and whether
the difference is beyond noise.

Configurations are joined on CONFIG_COLUMNS (the measured configuration without run id, timing policy or
thread count). A difference counts as real when the two-sided Mann-Whitney U test on the raw samples
gives p < ALPHA; with fewer than MIN_SAMPLES samples on a side no test is made. Results from different
hardware are refused unless forced: a ratio across machines says nothing about a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.analysis import sample_list
from bench.significance import mann_whitney_u
from bench.units import format_seconds

CONFIG_COLUMNS = ("variant", "model", "options", "batch", "seq_len", "d_model", "n_heads", "causal", "dtype",
                  "device", "mode", "scope")
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

    def render(self) -> str:
        """A plain-text table, one configuration per line, followed by counts and warnings."""
        header = ("variant", "device", "dtype", "mode", "B", "N", "d", "h", "median A", "median B", "B/A",
                  "p", "change")
        lines = [header]
        for _, row in self.table.iterrows():
            p = "-" if pd.isna(row["p_value"]) else f"{row['p_value']:.3g}"
            lines.append((str(row["variant"]), str(row["device"]), str(row["dtype"]), str(row["mode"]),
                          str(row["batch"]), str(row["seq_len"]), str(row["d_model"]), str(row["n_heads"]),
                          format_seconds(row["median_a"]), format_seconds(row["median_b"]),
                          f"{row['ratio']:.3f}", p, str(row["change"])))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                for line in lines]
        counts = self.table["change"].value_counts()
        text.append("")
        text.append(f"{len(self.table)} configurations compared: "
                    + ", ".join(f"{counts.get(c, 0)} {c}" for c in ("slower", "faster", "no clear change",
                                                                     "not tested")))
        text.append(f"only in A: {self.only_in_a}; only in B: {self.only_in_b}; "
                    f"a change needs two-sided Mann-Whitney p < {ALPHA} on the raw samples")
        if self.forced:
            text.append("FORCED: hardware differs between A and B; ratios mix machine and code effects")
        text.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(text)


def _hardware(df: pd.DataFrame) -> dict[str, list[str]]:
    """Hardware labels per device kind: the GPU name for CUDA rows, the CPU model (and cores) for CPU rows."""
    labels: dict[str, set[str]] = {}
    for _, row in df.iterrows():
        device = row.get("device")
        env_name = row.get("env_gpu_name" if device == "cuda" else "env_cpu_model", None)
        name = env_name if pd.notna(env_name) else row.get("device_name")
        if device != "cuda":
            cores = row.get("env_cpu_logical_cores", None)
            if pd.notna(name) and pd.notna(cores):
                name = f"{name} x{int(cores)}"
        labels.setdefault(str(device), set()).add(str(name) if pd.notna(name) else "unknown")
    return {device: sorted(names) for device, names in labels.items()}


def _latest_ok(df: pd.DataFrame) -> pd.DataFrame:
    ok = df[df["status"] == "ok"].copy()
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

    When a table holds one configuration several times the latest (by timestamp) is used.
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
