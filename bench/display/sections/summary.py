"""The opening paragraph: what ran, how time scaled, where variants overtake sdpa, how the claims fared."""

from __future__ import annotations

import pandas as pd

from bench.analysis.claims import ClaimCheck
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import integer, where

STATUS_ORDER = ("ok", "oom", "timeout", "error", "skipped")
VERDICT_WORDS = {"linear": "linearly", "quadratic": "quadratically", "inconclusive": "with an inconclusive slope"}


def _main_series(scaling: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the series that says most about asymptotics: forward first, longest range, most points."""
    if scaling.empty:
        return scaling
    ordered = scaling.assign(_fwd=scaling["mode"] != "forward").sort_values(
        ["_fwd", "x_max", "n_total"], ascending=[True, False, False], kind="stable")
    return ordered.drop_duplicates("variant").drop(columns="_fwd").sort_values("variant")


def _what_ran(df: pd.DataFrame) -> str:
    counts = df["status"].value_counts()
    status_text = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if s in counts)
    measured = df[df["status"] == "ok"] if (df["status"] == "ok").any() else df
    devices = ", ".join(sorted({where(r) for _, r in measured.iterrows()}))
    return (f"This run holds {len(df)} configurations of {df['variant'].nunique()} variants on {devices} "
            f"({status_text}).")


def _scaling(time_scaling: pd.DataFrame) -> str:
    main = _main_series(time_scaling)
    if main.empty:
        return "No variant was measured at two or more sequence lengths, so there is no scaling verdict."
    groups: dict[str, list[str]] = {}
    for _, row in main.iterrows():
        fit_range = f"N={integer(row['x_min'])}-{integer(row['x_max'])}"
        groups.setdefault(row["verdict"], []).append(f"{row['variant']} (slope {row['slope']:.2f} over {fit_range})")
    return "Time grows with sequence length " + "; ".join(
        f"{VERDICT_WORDS[v]} for {', '.join(names)}" for v, names in groups.items()) + "."


def _against_sdpa(vs_sdpa: pd.DataFrame) -> list[str]:
    rows = [r for _, r in vs_sdpa.iterrows()]
    crossing = [f"{r['variant']} from N={integer(r['faster_from'])} (slower at {integer(r['slower_at'])})"
                for r in rows if r["outcome"] == "crosses"]
    always = [r["variant"] for r in rows if r["outcome"] == "always"]
    never = [f"{r['variant']} (up to N={integer(r['n_max'])})" for r in rows if r["outcome"] == "never in range"]
    parts = []
    if crossing:
        parts.append("Against sdpa, these become faster: " + "; ".join(crossing) + ".")
    if always:
        parts.append("Faster than sdpa at every measured length: " + ", ".join(sorted(set(always))) + ".")
    if never:
        parts.append("Not faster than sdpa at the longest common length: " + ", ".join(never) + ".")
    return parts


def _claims(claims: tuple[ClaimCheck, ...]) -> str:
    tally = pd.Series([c.status for c in claims]).value_counts()
    unmeasured = sum(c.status == "inconclusive" and "not measured in this run" in c.note for c in claims)
    why = f" ({unmeasured} because this run did not measure the published configuration)" if unmeasured else ""
    return (f"Of {len(claims)} published claim checks, {tally.get('supported', 0)} are supported, "
            f"{tally.get('not supported', 0)} not supported and {tally.get('inconclusive', 0)} "
            f"inconclusive{why}.")


@section(order=10)
def render(ctx: ReportContext) -> str:
    """One paragraph of the run's headline numbers, every one taken from the analysis."""
    if ctx.df.empty:
        return "This run holds no results."
    parts = [_what_ran(ctx.df), _scaling(ctx.scaling["time_seq_len"]),
             *_against_sdpa(ctx.crossovers["sdpa"]), _claims(ctx.claims)]
    return " ".join(parts)
