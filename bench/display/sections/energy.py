"""Energy per token: J/token (gross and net of idle power) against sequence length, and its plot; or, without
figures, one line saying energy was not measured and why."""

from __future__ import annotations

import pandas as pd

from bench.analysis.energy import energy_reasons, energy_table
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import number, paragraphs, setting
from bench.display.table import markdown_table

TITLE = "## Energy per token"
HEADERS = ("variant", "setting", "B", "N", "J/token", "net J/token", "J/call", "net J/call", "idle W",
           "GPU after", "source", "records")
EXPLANATION = (
    "Energy of one call from the device's own counter (NVML's total energy of the GPU on CUDA, RAPL on the CPU "
    "where readable; never estimated from a TDP), read over a window of at least 5 s of back-to-back calls "
    "synchronised on both sides, in a separate pass after timing. Net subtracts the idle power measured just "
    "before over 2 s; per token divides by B x N. Medians over each configuration's records; the GPU's "
    "temperature, power and SM clock are those after the window."
)
SHOWN_REASONS = 3


def _after(r: pd.Series) -> str:
    values = ((r["gpu_temperature_c"], "°C"), (r["gpu_power_w"], "W"), (r["gpu_sm_clock_mhz"], "MHz"))
    return ", ".join(f"{v:.0f} {unit}" for v, unit in values if pd.notna(v)) or "-"


def _row(r: pd.Series) -> tuple:
    return (r["variant"], setting(r), r["batch"], r["seq_len"], number(r["energy_j_per_token"]),
            number(r["energy_net_j_per_token"]), number(r["energy_j_per_call"]), number(r["energy_net_j_per_call"]),
            number(r["energy_idle_w"]), _after(r), r["energy_source"], int(r["n_records"]))


def reasons_text(reasons: dict[str, int]) -> str:
    """The distinct reasons with how many configurations gave each (the first SHOWN_REASONS, then a count)."""
    shown = [f"{reason} ({count} configuration{'s' if count > 1 else ''})"
             for reason, count in list(reasons.items())[:SHOWN_REASONS]]
    more = len(reasons) - SHOWN_REASONS
    return "; ".join(shown) + (f"; and {more} other reason{'s' if more > 1 else ''}" if more > 0 else "")


@section(order=65)
def render(ctx: ReportContext) -> str:
    """The J/token table by variant, setting and N, and the energy plots; or why there are no figures."""
    table = energy_table(ctx.configs)
    reasons = energy_reasons(ctx.configs)
    if table.empty:
        why = (f"Energy was not measured: {reasons_text(reasons)}." if reasons else
               "Energy was not measured: the energy pass was off (`[timing] energy = false` or `--no-energy`).")
        return paragraphs(TITLE, why)
    parts = [TITLE, EXPLANATION, markdown_table(HEADERS, [_row(r) for _, r in table.iterrows()])]
    if reasons:
        parts.append(f"No energy figures for the other configurations: {reasons_text(reasons)}.")
    return paragraphs(*parts, *ctx.embeds("energy_"))
