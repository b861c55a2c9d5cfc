"""Crossovers: from which sequence length a variant is faster than sdpa, and than softmax."""

from __future__ import annotations

import pandas as pd

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, paragraphs, series, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "reference", "setting", "series", "outcome", "crossover (N)", "common N (points)",
           "speed-up at max", "note")
EXPLANATION = (
    "The sequence length from which a variant's median time is lower than the reference's at the same "
    "configuration and stays lower: between the last length where it was slower and the first where it was "
    "faster. 'speed-up at max' is t_reference / t_variant at the longest common length."
)


def _rows(table: pd.DataFrame) -> list[tuple]:
    rows = []
    for _, r in table.iterrows():
        interval = f"({integer(r['slower_at'])}, {integer(r['faster_from'])}]" if r["outcome"] == "crosses" else "-"
        rows.append((r["variant"], r["reference"], setting(r), series(r["series"]), r["outcome"], interval,
                     f"{integer(r['n_min'])}-{integer(r['n_max'])} ({r['n_common']})",
                     f"{r['speedup_at_max']:.2f}x", r["note"] or ""))
    return rows


@section(order=40)
def render(ctx: ReportContext) -> str:
    """One table per reference, then the speed-up plots."""
    parts = ["## Crossovers", EXPLANATION]
    for reference, table in ctx.crossovers.items():
        parts.append(f"### Against {reference}")
        parts.append(markdown_table(HEADERS, _rows(table)) if not table.empty else
                     f"No configuration measured for both {reference} and another variant.")
    return paragraphs(*parts, *ctx.embeds("speedup_"))
