"""The command line that reproduces the run."""

from __future__ import annotations

from bench.display.context import ReportContext
from bench.display.sections import section


@section(order=100)
def render(ctx: ReportContext) -> str:
    """The run's command in a code block."""
    return f"## Reproduce\n\n```\n{ctx.command}\n```"
