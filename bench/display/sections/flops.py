"""Achieved FLOP/s: the best rate per variant and setting, with its fraction of a known GPU peak."""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import SETTING_KEYS
from bench.config.units import format_seconds
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "at", "work", "median time", "achieved", "fraction of peak")
EXPLANATION = (
    "Best achieved rate per variant and setting: counted FLOPs (else the analytic count) / median time. The "
    "fraction of peak is given only for GPUs with a dense peak from the vendor datasheet; for CPUs and other "
    "devices the peak is unknown and no fraction is printed. fp32 peaks assume TF32 is off (PyTorch's matmul "
    "default)."
)


def _row(r: pd.Series) -> tuple:
    fraction = (f"{r['fraction_of_peak']:.1%} of {r['peak_flops_per_s'] / 1e12:.4g} TFLOP/s"
                if pd.notna(r["fraction_of_peak"]) else "unknown peak")
    at = f"B={r['batch']}, N={r['seq_len']}, d={r['d_model']}, h={r['n_heads']}"
    return (r["variant"], setting(r), at, f"{r['flops'] / 1e9:.4g} GFLOP ({r['flops_source']})",
            format_seconds(r["median_s"]), f"{r['flops_per_s'] / 1e9:.4g} GFLOP/s", fraction)


@section(order=60)
def render(ctx: ReportContext) -> str:
    """The fastest configuration of each variant and setting (hardware included), then the FLOPs plots."""
    table = ctx.flops
    if table.empty:
        return paragraphs("## Achieved FLOP/s", EXPLANATION, "No FLOP counts in this run.")
    best = table.sort_values("flops_per_s", ascending=False, kind="stable").drop_duplicates(
        ["variant", *SETTING_KEYS])
    rows = [_row(r) for _, r in best.sort_values(["variant", "device", "mode"], kind="stable").iterrows()]
    return paragraphs("## Achieved FLOP/s", EXPLANATION, markdown_table(HEADERS, rows), *ctx.embeds("flops_"))
