"""Capacity: per series, the largest sequence length that ran and the smallest that did not fit."""

from __future__ import annotations

import pandas as pd

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, paragraphs, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "series", "largest ok N", "smallest failed N")
EXPLANATION = (
    "Largest length measured successfully and the smallest that ran out of memory, timed out or was skipped "
    "by the budget predictor (errors are listed under failures)."
)


def _row(r: pd.Series) -> tuple:
    ok = (f"{integer(r['largest_ok_seq_len'])} (B={integer(r['largest_ok_batch'])})"
          if pd.notna(r["largest_ok_seq_len"]) else "none")
    failed = (f"{integer(r['smallest_failed_seq_len'])} (B={integer(r['failed_batch'])}, {r['failed_status']}: "
              f"{r['failed_reason'] or 'no detail'})" if pd.notna(r["smallest_failed_seq_len"]) else "none in range")
    return (r["variant"], setting(r), f"{r['coupling']}: {r['fixed']}", ok, failed)


@section(order=50)
def render(ctx: ReportContext) -> str:
    """One row per sequence-length series that failed somewhere or has more than one length."""
    if ctx.largest.empty:
        return paragraphs("## Largest sequence length that fit", EXPLANATION, "No sequence-length sweep in this run.")
    rows = [_row(r) for _, r in ctx.largest.iterrows()]
    return paragraphs("## Largest sequence length that fit", EXPLANATION, markdown_table(HEADERS, rows))
