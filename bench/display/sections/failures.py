"""Failed and skipped configurations; the only place predictions appear, labelled as predictions."""

from __future__ import annotations

import pandas as pd

from bench.analysis.capacity import first_line
from bench.config.units import format_bytes, format_seconds
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs, setting
from bench.display.table import markdown_table
from bench.results.record import NOT_MEASURED

HEADERS = ("status", "variant", "setting", "B", "N", "d", "h", "detail")


def _detail(r: pd.Series) -> str:
    if r["status"] == "skipped":
        return (f"{r['skip_reason'] or 'no reason recorded'} (prediction, not measured: time "
                f"{format_seconds(r['predicted_s'])}, peak {format_bytes(r['predicted_bytes'])})")
    return first_line(r["error"]) or "no error message recorded"


@section(order=80)
def render(ctx: ReportContext) -> str:
    """One row per configuration that did not run: the first line of its error or the skip's prediction."""
    failed = ctx.df[ctx.df["status"].isin(NOT_MEASURED)]
    if failed.empty:
        return paragraphs("## Failures and skipped configurations", "None: every configuration was measured.")
    rows = [(r["status"], r["variant"], setting(r), r["batch"], r["seq_len"], r["d_model"], r["n_heads"], _detail(r))
            for _, r in failed.sort_values(["status", "variant", "seq_len"], kind="stable").iterrows()]
    return paragraphs("## Failures and skipped configurations", markdown_table(HEADERS, rows))
