"""Scaling verdicts: per series, the log-log slope with its interval, the local slope, the quadratic fit and
the verdict."""

from __future__ import annotations

import pandas as pd

from bench.analysis.fits import VERDICT_RULE
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, number, paragraphs, series, setting
from bench.display.table import markdown_table

HEADERS = ("variant", "setting", "series", "metric", "range (sizes)", "fit range (passes)", "slope", "95 % interval",
           "local slope", "non-negative fit a + b x + c x²", "x² share at max (95 %)", "verdict", "expected")
# Per scaling table of the context: its heading and the unit of its metric.
TITLES = {"time_seq_len": ("Time vs sequence length", "s"), "memory_seq_len": ("Peak memory vs sequence length", "B"),
          "time_batch": ("Time vs batch", "s"), "time_d_model": ("Time vs model width", "s")}
EXPLANATION = (
    "For fixed-tokens series (batch = tokens / N) the metric is per sequence (divided by the batch), so the "
    "exponent is 1 for linear and 2 for quadratic layers in both couplings. 'range' counts every size measured, "
    "overhead-bound ones included (how many were left out is in the note). 'x² share at max' is "
    "c x² / (a + b x + c x²) at the largest x of the fit range, with its interval; it reads 'curvature' unless "
    "that interval lies above zero. 'expected' is the asymptotic class of the algorithm, shown for comparison "
    "only."
)


def _share(r: pd.Series) -> str:
    if pd.isna(r["quadratic_share"]):
        return "-"
    if pd.isna(r["share_low"]):
        return f"{r['quadratic_share']:.0%}"
    return f"{r['quadratic_share']:.0%} [{r['share_low']:.0%}, {r['share_high']:.0%}] {r['curvature']}"


def _fit_text(r: pd.Series, unit: str) -> str:
    if pd.isna(r["a"]):
        return "-"
    return f"{number(r['a'])} {unit} + {number(r['b'])} x + {number(r['c'])} x²"


def _rows(scaling: pd.DataFrame, unit: str) -> list[tuple]:
    rows = []
    for _, r in scaling.iterrows():
        ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if pd.notna(r["ci_low"]) else "-"
        slope = "-" if pd.isna(r["slope"]) else f"{r['slope']:.2f}"
        local = "-" if pd.isna(r["local_slope"]) else f"{r['local_slope']:.2f}"
        fit_range = f"{integer(r['x_min'])}-{integer(r['x_max'])} ({r['passes']})" if pd.notna(r["x_min"]) else "-"
        verdict = f"**{r['verdict']}**" + (f" ({r['note']})" if r["note"] else "")
        rows.append((
            r["variant"], setting(r), series(r["series"]), r["metric"],
            f"{integer(r['range_min'])}-{integer(r['range_max'])} ({r['n_total']})", fit_range, slope, ci, local,
            _fit_text(r, unit), _share(r), verdict, r["expected"],
        ))
    return rows


@section(order=30)
def render(ctx: ReportContext) -> str:
    """The four scaling tables (time and memory vs N, time vs batch and width) and their plots."""
    parts = ["## Scaling", VERDICT_RULE, EXPLANATION]
    for name, (title, unit) in TITLES.items():
        table = ctx.scaling[name]
        parts.append(f"### {title}")
        parts.append(markdown_table(HEADERS, _rows(table, unit)) if not table.empty else
                     "No series of two or more sizes along this axis in this run.")
    return paragraphs(*parts, *ctx.embeds("time_vs_", "memory_vs_"))
