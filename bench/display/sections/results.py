"""Every successfully measured configuration: median time with its spread, and peak memory."""

from __future__ import annotations

from bench.config.units import format_bytes, format_seconds
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, paragraphs, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "B", "N", "d", "h", "threads", "median", "passes (range)", "samples, IQR", "noisy",
           "peak", "overhead-bound")
EXPLANATION = (
    "Median time per call over the replicated passes (the median of the passes' medians) with the range of "
    "those medians, the raw samples pooled over the passes with their interquartile range, and the activation "
    "peak memory. 'threads' is the CPU thread count the configuration was timed with (each configuration sets "
    "its own; '-' where not recorded). Overhead-bound configurations (their time does not grow with their work) "
    "are left out of verdicts and claims."
)
ORDER = ["device", "dtype", "mode", "variant", "batch", "d_model", "seq_len"]


def _passes(medians: list[float]) -> str:
    if len(medians) < 2:
        return str(len(medians))
    return f"{len(medians)} ({format_seconds(min(medians))}-{format_seconds(max(medians))})"


@section(order=70)
def render(ctx: ReportContext) -> str:
    """One row per ok configuration, grouped by device, dtype, mode and variant."""
    ok = ctx.configs[ctx.configs["status"] == "ok"]
    if ok.empty:
        return paragraphs("## Results", EXPLANATION, "No configuration was measured successfully.")
    rows = [(r["variant"], setting(r), r["batch"], r["seq_len"], r["d_model"], r["n_heads"], integer(r.get("threads")),
             format_seconds(r["median_s"]), _passes(r["pass_medians_s"]),
             f"{integer(r['n_samples'])}, ± {format_seconds(r['iqr_s'])}", "yes" if r["noisy"] is True else "",
             format_bytes(r["peak_bytes"]), r["overhead_reason"] if r["overhead_bound"] is True else "")
            for _, r in ok.sort_values(ORDER, kind="stable").iterrows()]
    return paragraphs("## Results", EXPLANATION, markdown_table(HEADERS, rows))
