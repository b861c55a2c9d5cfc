"""The published claims against this run: ratio and complexity checks with their tolerance rule."""

from __future__ import annotations

from bench.analysis.claims import RATIO_RULE
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs
from bench.display.table import markdown_table


@section(order=20)
def render(ctx: ReportContext) -> str:
    """One row per claim check: published value, measured value, status and what was compared."""
    rows = [(c.claim, c.source, c.published, c.measured, c.flop_bound, f"**{c.status}**", c.note)
            for c in ctx.claims]
    return paragraphs(
        "## Claims check",
        "Published ratios (other model's time / Fastformer's time, or the like) against the same ratio "
        "measured here, listed as ratio@N with its one-sided 95 % lower bound (≥) from the replicated passes.",
        RATIO_RULE,
        markdown_table(("claim", "source", "published", "measured", "FLOP bound", "status", "note"), rows),
    )
