"""The text of a run-to-run comparison (bench.analysis.compare): the machine's speed, one configuration per
line, then counts and the rule a change had to pass."""

from __future__ import annotations

import pandas as pd

from bench.analysis.compare import CHANGES, MIN_MACHINE, ComparisonResult
from bench.config.units import format_seconds
from bench.display.table import text_table
from bench.results.identity import compile_mode, flag

HEADERS = ("variant", "causal", "device", "dtype", "mode", "B", "N", "d", "h", "median A", "median B", "B/A", "p",
           "change")
RELATIVE_HEADERS = ("B/A rel.", "vs machine")


def percent(fraction: float) -> str:
    """0.05 -> '5 %', 0.025 -> '2.5 %'."""
    return f"{fraction * 100:.3g} %"


def speed(ratio: float) -> str:
    """B/A as people say it: 'B is 1.18x slower than A' or 'B is 1.10x faster than A'."""
    return f"B is {ratio:.2f}x slower than A" if ratio >= 1 else f"B is {1 / ratio:.2f}x faster than A"


def machine_line(result: ComparisonResult) -> str:
    """What the median ratio over every configuration says about the machines' speed."""
    n = len(result.table)
    ratio = result.machine_ratio
    if not result.machine_known:
        return (f"machine speed: median B/A {ratio:.3f} over {n} configuration{'s' if n != 1 else ''}, too few "
                f"(under {MIN_MACHINE}) to tell the machine's speed from the code's")
    said = f"machine speed: {speed(ratio)} in the median over {n} configurations"
    if not result.machine_moved:
        return f"{said}, within the {percent(result.min_effect)} minimum effect"
    return (f"{said}; ratios below are also shown relative to that\n"
            f"(B/A rel.: B/A divided by {ratio:.3f}; vs machine: the change against it, same rule)")


def _counts(result: ComparisonResult, column: str) -> str:
    counts = result.table[column].value_counts()
    small = result.significant_but_small(column)
    parts = [f"{counts.get(c, 0)} {c}" for c in CHANGES]
    if small:
        parts[2] += (f" ({small} of them with p < {result.alpha} but within the {percent(result.min_effect)} "
                     f"minimum effect)")
    return ", ".join(parts)


def _setting_columns(table: pd.DataFrame) -> tuple[list[str], list]:
    """Scope and compile columns, only where some row is not a plain attention layer run eagerly."""
    extra = []
    if "scope" in table.columns and (table["scope"] != "attention").any():
        extra.append(("scope", lambda r: r["scope"]))
    if "compile" in table.columns and (table["compile"].map(compile_mode) != "eager").any():
        extra.append(("compile", lambda r: compile_mode(r["compile"])))
    return [name for name, _ in extra], [get for _, get in extra]


def render_comparison(result: ComparisonResult) -> str:
    """The machine-speed line, a plain-text table of the joined configurations, counts, the rule used and
    warnings; with a machine that moved beyond the minimum effect, the ratios and changes against it too."""
    relative = result.machine_moved
    extra_headers, extra_values = _setting_columns(result.table)
    headers = [*HEADERS[:5], *extra_headers, *HEADERS[5:], *(RELATIVE_HEADERS if relative else ())]
    rows = []
    for _, r in result.table.iterrows():
        dtype = f"{r['dtype']}+tf32" if flag(r.get("tf32")) else r["dtype"]
        row = [r["variant"], "causal" if flag(r["causal"]) else "-", r["device"], dtype, r["mode"],
               *(get(r) for get in extra_values), r["batch"], r["seq_len"], r["d_model"], r["n_heads"],
               format_seconds(r["median_a"]), format_seconds(r["median_b"]), f"{r['ratio']:.3f}",
               "-" if pd.isna(r["p_value"]) else f"{r['p_value']:.3g}", r["change"]]
        if relative:
            row += [f"{r['relative']:.3f}", r["change_relative"]]
        rows.append(row)
    m = result.min_effect
    lines = [machine_line(result), "", text_table(headers, rows), "",
             f"{len(result.table)} configurations compared: {_counts(result, 'change')}"]
    if relative:
        lines.append(f"against the machine's speed (vs machine): {_counts(result, 'change_relative')}")
    effect = (f"and a ratio beyond the {percent(m)} minimum effect (B/A above {1 + m:.3g} or below "
              f"{1 / (1 + m):.3g}; --min-effect)" if m > 0 else "(no minimum effect: --min-effect 0)")
    lines.append(f"only in A: {result.only_in_a}; only in B: {result.only_in_b}; a change needs two-sided "
                 f"Mann-Whitney p < {result.alpha} on the raw samples {effect}")
    if result.forced:
        lines.append("FORCED: hardware differs between A and B; ratios mix machine and code effects")
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)
