"""The opening paragraph: what ran, how time scaled, where variants overtake sdpa, how the claims fared."""

from __future__ import annotations

import pandas as pd

from bench.analysis.claims import ClaimCheck
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import conditions, integer, where

STATUS_ORDER = ("ok", "oom", "timeout", "error", "skipped")
VERDICT_WORDS = {"linear": "linearly", "quadratic": "quadratically", "inconclusive": "with an inconclusive slope",
                 "too few sizes": "over too few work-bound sizes for a verdict"}


def _main_series(scaling: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the series that says most about asymptotics: forward first, longest range, most points."""
    if scaling.empty:
        return scaling
    ordered = scaling.assign(_fwd=scaling["mode"] != "forward").sort_values(
        ["_fwd", "x_max", "n_total"], ascending=[True, False, False], kind="stable")
    return ordered.drop_duplicates("variant").drop(columns="_fwd").sort_values("variant")


def _what_ran(configs: pd.DataFrame) -> str:
    counts = configs["status"].value_counts()
    status_text = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if s in counts)
    measured = configs[configs["status"] == "ok"] if (configs["status"] == "ok").any() else configs
    devices = ", ".join(sorted({where(r) for _, r in measured.iterrows()}))
    most = int(pd.to_numeric(measured["n_passes"]).max()) if len(measured) else 0
    passes_text = f", timed in up to {most} replicated passes" if most > 1 else ", each timed in one pass"
    return (f"This run holds {len(configs)} configurations of {configs['variant'].nunique()} variants on {devices} "
            f"({status_text}){passes_text}.")


def _fp32_sdpa(configs: pd.DataFrame) -> list[str]:
    """Say so when a baseline ran in a kernel its users do not run: sdpa in float32 on a GPU."""
    rows = configs[(configs["model"] == "sdpa") & (configs["device"] == "cuda") & (configs["dtype"] == "float32")
                   & (configs["status"] == "ok")]
    if rows.empty:
        return []
    return ["sdpa ran in float32 on a GPU, where it uses a kernel without tensor cores; its users run it in "
            "bfloat16 or float16 with FlashAttention or cuDNN kernels, so ratios against it here flatter the "
            "other layers."]


def _by_conditions(rows: pd.DataFrame, configs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows grouped by the conditions their numbers hold under (dtype, backend, device)."""
    keys = [conditions(configs, r) for _, r in rows.iterrows()]
    return {key: rows[[k == key for k in keys]] for key in dict.fromkeys(keys)}


def _scaling(time_scaling: pd.DataFrame, configs: pd.DataFrame) -> list[str]:
    main = _main_series(time_scaling)
    if main.empty:
        return ["No variant was measured at two or more sequence lengths, so there is no scaling verdict."]
    sentences = []
    for where_text, rows in _by_conditions(main, configs).items():
        groups: dict[str, list[str]] = {}
        for _, row in rows.iterrows():
            if pd.isna(row["slope"]):
                groups.setdefault(row["verdict"], []).append(row["variant"])
                continue
            fit_range = f"N={integer(row['x_min'])}-{integer(row['x_max'])}"
            text = f"slope {row['slope']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] over {fit_range}"
            groups.setdefault(row["verdict"], []).append(f"{row['variant']} ({text})")
        sentences.append(f"In {where_text}, time grows with sequence length " + "; ".join(
            f"{VERDICT_WORDS[v]} for {', '.join(names)}" for v, names in groups.items()) + ".")
    return sentences


def _against_sdpa(vs_sdpa: pd.DataFrame, configs: pd.DataFrame) -> list[str]:
    parts = []
    for where_text, frame in (_by_conditions(vs_sdpa, configs).items() if len(vs_sdpa) else []):
        rows = [r for _, r in frame.iterrows()]
        crossing = [f"{r['variant']} {r['mode']} from N={integer(r['faster_from'])} (slower at "
                    f"{integer(r['slower_at'])})" for r in rows if r["outcome"] == "crosses"]
        always = [f"{r['variant']} {r['mode']}" for r in rows if r["outcome"] == "always"]
        never = [f"{r['variant']} {r['mode']} (up to N={integer(r['n_max'])})" for r in rows
                 if r["outcome"] == "never in range"]
        found = []
        if crossing:
            found.append("these become faster: " + "; ".join(crossing))
        if always:
            found.append("faster at every measured length: " + ", ".join(sorted(set(always))))
        if never:
            found.append("not faster at the longest common length: " + ", ".join(never))
        if found:
            parts.append(f"Against sdpa in {where_text}, " + "; ".join(found) + ".")
    return parts


def _claims(claims: tuple[ClaimCheck, ...]) -> str:
    tally = pd.Series([c.status for c in claims]).value_counts()
    return (f"Of {len(claims)} published claim checks, {tally.get('supported', 0)} are supported, "
            f"{tally.get('not supported', 0)} not supported and {tally.get('inconclusive', 0)} inconclusive; "
            f"{tally.get('different configuration', 0)} were measured only at another configuration than the "
            f"source's and {tally.get('not measured', 0)} not at all, and get no verdict.")


@section(order=10)
def render(ctx: ReportContext) -> str:
    """One paragraph of the run's headline numbers, every one taken from the analysis."""
    if ctx.df.empty:
        return "This run holds no results."
    parts = [_what_ran(ctx.configs), *_scaling(ctx.scaling["time_seq_len"], ctx.configs),
             *_against_sdpa(ctx.crossovers["sdpa"], ctx.configs), *_fp32_sdpa(ctx.configs), _claims(ctx.claims)]
    return " ".join(parts)
