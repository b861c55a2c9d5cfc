"""Every successfully measured configuration: median time with its spread, and peak memory."""

from __future__ import annotations

from bench.config.units import format_bytes, format_seconds
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, paragraphs, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "B", "N", "d", "h", "median ± IQR", "samples", "noisy", "peak")
EXPLANATION = "Median time per call ± interquartile range over the raw samples; peak is the activation peak memory."
ORDER = ["device", "dtype", "mode", "variant", "batch", "d_model", "seq_len"]


@section(order=70)
def render(ctx: ReportContext) -> str:
    """One row per ok configuration, grouped by device, dtype, mode and variant."""
    ok = ctx.df[ctx.df["status"] == "ok"]
    if ok.empty:
        return paragraphs("## Results", EXPLANATION, "No configuration was measured successfully.")
    rows = [(r["variant"], setting(r), r["batch"], r["seq_len"], r["d_model"], r["n_heads"],
             f"{format_seconds(r['median_s'])} ± {format_seconds(r['iqr_s'])}", integer(r["n_samples"]),
             "yes" if r["noisy"] is True else "", format_bytes(r["peak_bytes"]))
            for _, r in ok.sort_values(ORDER, kind="stable").iterrows()]
    return paragraphs("## Results", EXPLANATION, markdown_table(HEADERS, rows))
