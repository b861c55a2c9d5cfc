"""The text of a run-to-run comparison (bench.analysis.compare): one configuration per line, then counts."""

from __future__ import annotations

import pandas as pd

from bench.analysis.compare import ALPHA, ComparisonResult
from bench.config.units import format_seconds
from bench.display.table import text_table

HEADERS = ("variant", "device", "dtype", "mode", "B", "N", "d", "h", "median A", "median B", "B/A", "p", "change")
CHANGES = ("slower", "faster", "no clear change", "not tested")


def render_comparison(result: ComparisonResult) -> str:
    """A plain-text table of the joined configurations, followed by counts, the test used and warnings."""
    rows = [(r["variant"], r["device"], r["dtype"], r["mode"], r["batch"], r["seq_len"], r["d_model"], r["n_heads"],
             format_seconds(r["median_a"]), format_seconds(r["median_b"]), f"{r['ratio']:.3f}",
             "-" if pd.isna(r["p_value"]) else f"{r['p_value']:.3g}", r["change"])
            for _, r in result.table.iterrows()]
    counts = result.table["change"].value_counts()
    lines = [text_table(HEADERS, rows), "",
             f"{len(result.table)} configurations compared: " + ", ".join(f"{counts.get(c, 0)} {c}" for c in CHANGES),
             f"only in A: {result.only_in_a}; only in B: {result.only_in_b}; "
             f"a change needs two-sided Mann-Whitney p < {ALPHA} on the raw samples"]
    if result.forced:
        lines.append("FORCED: hardware differs between A and B; ratios mix machine and code effects")
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)
