"""Achieved FLOP/s: the best rate per variant and setting, with its fraction of a known GPU peak."""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import SETTING_KEYS
from bench.config.units import format_seconds
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "at", "work", "median time", "achieved", "of measured matmul rate",
           "fraction of peak", "overhead-bound")
EXPLANATION = (
    "Best achieved rate per variant and setting: counted FLOPs (else the analytic count) / median time. "
    "'of measured matmul rate' divides it by the machine-speed probe of this run: a (rows x d) @ (d x d) GEMM "
    "at the same device, dtype and width, timed like any configuration, so the CPU gets a fraction too. The "
    "fraction of peak is given only for GPUs with a dense peak from the vendor datasheet. fp32 peaks assume "
    "TF32 is off (PyTorch's matmul default). 'overhead-bound' counts the variant's configurations whose time "
    "does not grow with their FLOPs or whose rate is below 2 % of the reference (bench.analysis.overhead); "
    "they are marked in the plots and left out of verdicts and claims."
)


def _row(r: pd.Series, bound: int, total: int) -> tuple:
    fraction = (f"{r['fraction_of_peak']:.1%} of {r['peak_flops_per_s'] / 1e12:.4g} TFLOP/s"
                if pd.notna(r["fraction_of_peak"]) else "unknown peak")
    gemm = (f"{r['gemm_fraction']:.0%} of {r['probe_flops_per_s'] / 1e9:.4g} GFLOP/s"
            if pd.notna(r["gemm_fraction"]) else "not measured")
    at = f"B={r['batch']}, N={r['seq_len']}, d={r['d_model']}, h={r['n_heads']}"
    return (r["variant"], setting(r), at, f"{r['flops'] / 1e9:.4g} GFLOP ({r['flops_source']})",
            format_seconds(r["median_s"]), f"{r['flops_per_s'] / 1e9:.4g} GFLOP/s", gemm, fraction,
            f"{bound} of {total}")


@section(order=60)
def render(ctx: ReportContext) -> str:
    """The fastest configuration of each variant and setting (hardware included), then the FLOPs plots."""
    table = ctx.flops
    if table.empty:
        return paragraphs("## Achieved FLOP/s", EXPLANATION, "No FLOP counts in this run.")
    group = ["variant", *SETTING_KEYS]
    best = table.sort_values("flops_per_s", ascending=False, kind="stable").drop_duplicates(group)
    bound = table.assign(_bound=table["overhead_bound"].eq(True)).groupby(group, dropna=False)["_bound"]
    counts, sums = bound.size().to_dict(), bound.sum().to_dict()
    rows = [_row(r, int(sums[tuple(r[group])]), int(counts[tuple(r[group])]))
            for _, r in best.sort_values(["variant", "device", "mode"], kind="stable").iterrows()]
    return paragraphs("## Achieved FLOP/s", EXPLANATION, markdown_table(HEADERS, rows), *ctx.embeds("flops_"))
