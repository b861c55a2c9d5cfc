"""The opening paragraph: what ran, how time scaled, where variants overtake sdpa, how the claims fared."""

from __future__ import annotations

import pandas as pd

from bench.analysis.claims import ClaimCheck
from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import conditions, counted, integer, series, where
from bench.results.identity import flag

STATUS_ORDER = ("ok", "oom", "timeout", "error", "skipped")
# How the summary names each crossover outcome against sdpa (bench.analysis.crossovers), in this order.
OUTCOME_WORDS = {"crosses": "these become faster", "always": "faster at every measured length",
                 "never in range": "not faster at the longest common length"}
OUTCOME_SHORT = {"crosses": "faster", "always": "faster at every measured length",
                 "never in range": "not faster"}
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
    return (f"This run holds {counted(len(configs), 'configuration')} of "
            f"{counted(configs['variant'].nunique(), 'variant')} on {devices} ({status_text}){passes_text}.")


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


def _name(r: pd.Series) -> str:
    """Who a crossover row is about: variant and mode, and causality and scope where they are not the default."""
    scope = "" if r["scope"] == "attention" else f" {r['scope']} scope"
    return f"{r['variant']} {r['mode']}{' causal' if flag(r['causal']) else ''}{scope}"


def _outcome(r: pd.Series) -> tuple[str, str]:
    """A crossover row's outcome group and its detail (what follows the name)."""
    if r["outcome"] == "crosses":
        return "crosses", f"from N={integer(r['faster_from'])} (slower at {integer(r['slower_at'])})"
    if r["outcome"] == "always":
        return "always", ""
    return "never in range", f"(up to N={integer(r['n_max'])})"


def _against_sdpa_sentence(rows: list[pd.Series]) -> str:
    """What the crossovers against sdpa under one set of conditions found. Each variant, mode, causality and
    scope is named in one group only: where its series disagree (faster from some length in one, at every
    length in another), it is listed under 'depending on the series', with each series' outcome."""
    by_name: dict[str, list[pd.Series]] = {}
    for r in rows:
        by_name.setdefault(_name(r), []).append(r)
    groups: dict[str, list[str]] = {key: [] for key in (*OUTCOME_WORDS, "mixed")}
    for name, named in by_name.items():
        outcomes = [_outcome(r) for r in named]
        kinds = {kind for kind, _ in outcomes}
        if len(kinds) == 1 and len({detail for _, detail in outcomes}) == 1:
            detail = outcomes[0][1]
            groups[outcomes[0][0]].append(f"{name} {detail}" if detail else name)
        elif len(kinds) == 1 and kinds == {"never in range"}:
            longest = max(int(r["n_max"]) for r in named)
            groups["never in range"].append(f"{name} (up to N={longest})")
        else:
            per_series = "; ".join(f"{OUTCOME_SHORT[kind]}{' ' + detail if detail else ''} with {series(r['series'])}"
                                   for (kind, detail), r in zip(outcomes, named, strict=True))
            groups["mixed"].append(f"{name} ({per_series})")
    found = [f"{OUTCOME_WORDS.get(kind, 'faster depending on the series')}: "
             + (", " if kind in ("always", "never in range") else "; ").join(names)
             for kind, names in groups.items() if names]
    return "; ".join(found)


def _against_sdpa(vs_sdpa: pd.DataFrame, configs: pd.DataFrame) -> list[str]:
    parts = []
    for where_text, frame in (_by_conditions(vs_sdpa, configs).items() if len(vs_sdpa) else []):
        found = _against_sdpa_sentence([r for _, r in frame.iterrows()])
        if found:
            parts.append(f"Against sdpa in {where_text}, {found}.")
    return parts


def _claims(claims: tuple[ClaimCheck, ...]) -> str:
    tally = pd.Series([c.status for c in claims], dtype=object).value_counts()
    supported, elsewhere, unmeasured = (int(tally.get(s, 0)) for s in ("supported", "different configuration",
                                                                       "not measured"))
    return (f"Of {counted(len(claims), 'published claim check')}, {supported} {'is' if supported == 1 else 'are'} "
            f"supported, {tally.get('not supported', 0)} not supported and {tally.get('inconclusive', 0)} "
            f"inconclusive; {elsewhere} {'was' if elsewhere == 1 else 'were'} measured only at another configuration "
            f"than the source's and {unmeasured} not at all, and "
            f"{'gets' if elsewhere + unmeasured == 1 else 'get'} no verdict.")


@section(order=10)
def render(ctx: ReportContext) -> str:
    """One paragraph of the run's headline numbers, every one taken from the analysis."""
    if ctx.df.empty:
        return "This run holds no results."
    parts = [_what_ran(ctx.configs), *_scaling(ctx.scaling["time_seq_len"], ctx.configs),
             *_against_sdpa(ctx.crossovers["sdpa"], ctx.configs), *_fp32_sdpa(ctx.configs), _claims(ctx.claims)]
    return " ".join(parts)
