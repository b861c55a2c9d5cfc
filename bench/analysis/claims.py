"""The check of the published claims (bench.analysis.published) against a run.

Absolute times are not comparable (V100 + Keras, unstated work per timing; TPU for LRA), so only ratios
between models measured in the same run are checked, only at the sequence lengths and mode the source
reports, and only on configurations that match the source's (bench.analysis.published.Source).
The table read is a `config_table` (one row per configuration, its replicated passes combined).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # Student t quantiles; scipy.stats costs ~1 s to import

from bench.analysis.published import (
    COMPLEXITY,
    COMPLEXITY_CLASS_IN_N,
    FIGURE2,
    FIGURE2_SOURCE,
    LRA_PEAK_GB,
    LRA_SEQ_LENS,
    LRA_SOURCE,
    LRA_STEPS_PER_S,
    PAPER_LINEAR_METHODS,
    PAPER_TO_OURS,
    SEQ_LENS,
    SOURCE_TABLE7,
    Source,
)
from bench.analysis.replicates import combined
from bench.analysis.scaling import scaling_table
from bench.results.identity import HARDWARE_FIELD, SHAPE_FIELDS, compile_mode, flag

CONFIDENCE = 0.95
RATIO_RULE = (
    "A ratio claim (X is R times faster than Y, or needs R times less memory) is judged only on "
    "configurations that match its source: width, heads, tokens per batch (or batch), scope, mode and the "
    "baseline's own hyper-parameters (Figure 2: d = 256, 16 heads, 65,536 tokens, one layer, Linformer "
    "k = 16; LRA: batch 32, a whole model trained, Linformer k = 256, which no run here measures), non-causal, "
    "and not overhead-bound. "
    "Rows that only differ get **different configuration** and no verdict. At each length the ratio is "
    "measured per replicated pass (both models timed in the same pass), and its one-sided "
    f"{CONFIDENCE:.0%} bounds come from the spread of the log ratios between passes, pooled over the "
    "claim's lengths (Student t). The published R is lowered by the source's allowance (stated with "
    "each claim) to the target. A length passes when the lower bound reaches the target and fails when "
    "the upper bound stays below it; with a single pass there are no bounds. **supported**: every "
    "matched length passes; **not supported**: any length fails; **inconclusive**: otherwise. The FLOP "
    "bound is the largest ratio an implementation whose time is proportional to its FLOPs could show at "
    "that configuration (Y's analytic FLOPs over X's). Complexity claims use the scaling verdict of the "
    "variant's longest time-vs-seq_len series (forward preferred)."
)
PAIR_KEYS = ("dtype", "device", HARDWARE_FIELD, "compile", "tf32", *SHAPE_FIELDS)
# A claim is judged separately in each of these: eager and compiled runs, or float32 with and without TF32,
# are different measurements of the same layers.
CLAIM_SETTING = ("device", HARDWARE_FIELD, "dtype", "compile", "tf32")


@dataclass(frozen=True)
class ClaimCheck:
    """One published claim, what this run measured for it, and whether the measurement supports it."""

    claim: str
    source: str
    published: str
    measured: str
    status: str
    note: str
    flop_bound: str = "-"


@dataclass(frozen=True)
class RatioClaim:
    """`behind`'s metric over `ahead`'s is published[N] at the source's configuration, in `mode`.

    `ahead_form` picks the Fastformer variant (the paper's form, or a control without query-value
    sharing); several `behind` models mean the fastest of them at each length.
    """

    claim: str
    source: Source
    mode: str
    published: dict[int, float]
    ahead: tuple[str, ...]
    behind: tuple[str, ...]
    metric: str = "median_s"
    note: str = ""
    ahead_form: str = "paper"


def _options(value: object) -> dict:
    return json.loads(value) if isinstance(value, str) and value.strip() else {}


def _fastformer_form(options: dict) -> str:
    if options.get("scorer", "paper") != "paper":
        return "official"
    return "paper" if options.get("share_qv", True) else "no-sharing"


def mismatches(row: pd.Series, source: Source) -> list[str]:
    """How a row's configuration differs from the source's (empty when it matches)."""
    found = []
    for name, wanted in source.shape.items():
        value = int(row["batch"]) * int(row["seq_len"]) if name == "tokens" else int(row[name])
        if value != wanted:
            found.append(f"{name}={value} (source: {wanted})")
    if row["scope"] != source.scope:
        found.append(f"scope {row['scope']} (source: {source.scope})")
    options = _options(row["options"])
    for name, wanted in source.options.get(row["model"], {}).items():
        if options.get(name) != wanted:
            found.append(f"{row['model']} {name}={options.get(name, 'default')} (source: {wanted})")
    return found


def _matching(rows: pd.DataFrame, source: Source) -> pd.DataFrame:
    return rows.loc[pd.Series([not mismatches(r, source) for _, r in rows.iterrows()], index=rows.index,
                              dtype=bool)]


def _closest_differences(a: pd.DataFrame, b: pd.DataFrame, source: Source) -> str:
    """What keeps the nearest configurations of both sides from matching the source."""
    found: list[str] = []
    for rows in (a, b):
        nearest = min((mismatches(r, source) for _, r in rows.iterrows()), key=len)
        found += [m for m in nearest if m not in found]
    return "; ".join(found) or "no configuration measured for both models"


def _candidates(ok: pd.DataFrame, spec: RatioClaim) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of `ok` standing for the claim's ahead and behind models."""
    rows = ok[(ok["mode"] == spec.mode) & ok["seq_len"].isin(list(spec.published))]
    ahead = rows[rows["model"].isin(spec.ahead)]
    if "fastformer" in spec.ahead:
        forms = ahead["options"].map(lambda o: _fastformer_form(_options(o)))
        ahead = ahead.loc[((ahead["model"] != "fastformer") | (forms == spec.ahead_form)).astype(bool)]
    return ahead, rows[rows["model"].isin(spec.behind)]


def _log_ratios(a: pd.Series, b: pd.Series, metric: str) -> np.ndarray:
    """Per pass (paired by pass order), log(b / a); memory is measured once and has one value."""
    if metric != "median_s":
        return np.array([math.log(float(b[metric]) / float(a[metric]))])
    k = min(len(a["pass_medians_s"]), len(b["pass_medians_s"]))
    return np.log(np.asarray(b["pass_medians_s"][:k]) / np.asarray(a["pass_medians_s"][:k]))


def _pooled_spread(logs: list[np.ndarray], metric: str) -> tuple[float, int]:
    """Pooled standard deviation of the per-pass log ratios and its degrees of freedom (0: none)."""
    if metric != "median_s":
        return 0.0, math.inf  # memory is deterministic: the bounds are the value
    dof = sum(v.size - 1 for v in logs)
    if dof == 0:
        return math.nan, 0
    return math.sqrt(sum(float(np.sum((v - v.mean()) ** 2)) for v in logs) / dof), dof


def _judge(pairs: pd.DataFrame, spec: RatioClaim) -> tuple[list[str], list[str], list[str]]:
    """Per length: the measured text, the FLOP-bound text and the outcome (pass, fail, unclear)."""
    logs = [_log_ratios(r["a"], r["b"], spec.metric) for _, r in pairs.iterrows()]
    spread, dof = _pooled_spread(logs, spec.metric)
    t = float(stdtrit(dof, CONFIDENCE)) if dof not in (0, math.inf) else 0.0
    measured, bounds, outcomes = [], [], []
    for (_, row), values in zip(pairs.iterrows(), logs, strict=True):
        n = int(row["seq_len"])
        point = math.exp(float(values.mean()))
        target = spec.published[n] * (1 - spec.source.allowance)
        if dof == 0:
            measured.append(f"{point:.2g}x@{n}")
            outcomes.append("unclear")
        else:
            half = t * spread / math.sqrt(values.size)
            low, high = point * math.exp(-half), point * math.exp(half)
            measured.append(f"{point:.2g}x (≥{low:.2g})@{n}")
            outcomes.append("pass" if low >= target else "fail" if high < target else "unclear")
        work_a, work_b = row["a"].get("flops_analytic"), row["b"].get("flops_analytic")
        if pd.notna(work_a) and pd.notna(work_b) and work_a:
            bounds.append(f"{float(work_b) / float(work_a):.2g}x@{n}")
    return measured, bounds, outcomes


def _pairs(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per length, the ahead row and the best behind row of the same configuration."""
    rows = []
    for key, ahead_rows in a.groupby(list(PAIR_KEYS), dropna=False, sort=True):
        match = b[(b[list(PAIR_KEYS)] == pd.Series(key, index=list(PAIR_KEYS))).all(axis=1)]
        if len(match):
            rows.append({"seq_len": key[PAIR_KEYS.index("seq_len")], "a": ahead_rows.iloc[0],
                         "b": match.loc[pd.to_numeric(match[metric]).idxmin()]})
    return pd.DataFrame(rows, columns=["seq_len", "a", "b"]).sort_values("seq_len", kind="stable")


def _published_text(spec: RatioClaim) -> str:
    values = list(spec.published.values())
    low, high = min(values), max(values)
    ratio = f"{low:.2g}x" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g}x-{high:.2g}x"
    return f"{ratio} at N={', '.join(str(n) for n in sorted(spec.published))}"


def _check(spec: RatioClaim, where: str, ahead: str, a: pd.DataFrame, b: pd.DataFrame) -> ClaimCheck | None:
    """The check of one ahead variant against the behind rows, within one device and dtype."""
    published = _published_text(spec)
    pairs = _pairs(a, b, spec.metric)
    if pairs.empty:
        return None
    measured, bounds, outcomes = _judge(pairs, spec)
    status = ("not supported" if "fail" in outcomes else
              "supported" if all(o == "pass" for o in outcomes) else "inconclusive")
    behind = " / ".join(sorted({r["variant"] for r in pairs["b"]}))
    passes = min(int(r["n_passes"]) for r in [*pairs["a"], *pairs["b"]]) if spec.metric == "median_s" else None
    note = [where, f"{ahead} vs {behind}",
            f"target: published x {1 - spec.source.allowance:.2f} ({spec.source.allowance_reason})"]
    if passes == 1:
        note.append("one pass: no spread between passes to bound the ratio; run with --passes 2 or more")
    missing = sorted(set(spec.published) - set(int(n) for n in pairs["seq_len"]))
    if missing:
        note.append(f"not measured at N={', '.join(str(n) for n in missing)}")
    if spec.note:
        note.append(spec.note)
    return ClaimCheck(spec.claim, spec.source.name, published, ", ".join(measured), status, "; ".join(note),
                      ", ".join(bounds) or "-")


def _where(device: str, hardware: str, dtype: str, compile_mode: str, tf32: bool) -> str:
    """A claim setting for people, e.g. `cuda (NVIDIA H200), bfloat16, inductor`."""
    execution = "" if compile_mode == "eager" else f", {compile_mode}"
    return f"{device} ({hardware or 'unknown device'}), {dtype}{'+tf32' if flag(tf32) else ''}{execution}"


def _evaluate(ok: pd.DataFrame, spec: RatioClaim) -> list[ClaimCheck]:
    published = _published_text(spec)
    ahead_rows, behind_rows = _candidates(ok, spec)
    checks = []
    for key, a_all in ahead_rows.groupby(list(CLAIM_SETTING), sort=True, dropna=False):
        b_all = behind_rows[(behind_rows[list(CLAIM_SETTING)] == pd.Series(key, index=list(CLAIM_SETTING))).all(axis=1)]
        if b_all.empty:
            continue
        where = _where(*key)
        a, b = _matching(a_all, spec.source), _matching(b_all, spec.source)
        bound = [rows[rows["overhead_bound"] == True] for rows in (a, b)]  # noqa: E712
        a, b = (rows[rows["overhead_bound"] != True] for rows in (a, b))  # noqa: E712
        groups = [b] if len(spec.behind) > 1 else [g for _, g in b.groupby("variant", sort=True)]
        found = [c for variant, rows in a.groupby("variant", sort=True) for g in groups
                 if (c := _check(spec, where, variant, rows, g)) is not None]
        if not found and any(len(rows) for rows in bound):
            reasons = sorted({f"{r['variant']} at N={r['seq_len']}: {r['overhead_reason']}"
                              for rows in bound for _, r in rows.iterrows()})
            found = [ClaimCheck(spec.claim, spec.source.name, published, "-", "inconclusive",
                                f"{where}: overhead-bound at the source's configuration, so the times measure a "
                                f"fixed cost, not the layer ({'; '.join(reasons[:3])})")]
        if not found:
            found = [ClaimCheck(spec.claim, spec.source.name, published, "-", "different configuration",
                                f"{where}: measured, but not at the source's configuration: "
                                f"{_closest_differences(a_all, b_all, spec.source)}")]
        checks += found
    if not checks:
        checks.append(ClaimCheck(spec.claim, spec.source.name, published, "-", "not measured",
                                 f"not measured in this run. {spec.note}".strip()))
    return checks


def _figure2_claims(linear_layers: tuple[str, ...]) -> list[RatioClaim]:
    specs = []
    for mode, table in FIGURE2.items():
        word = "inference" if mode == "forward" else "training"
        fast = dict(zip(SEQ_LENS, table["Fastformer"], strict=True))
        for paper_model in ("Transformer", *PAPER_LINEAR_METHODS):
            other = dict(zip(SEQ_LENS, table[paper_model], strict=True))
            published = {n: other[n] / fast[n] for n in SEQ_LENS if other[n] is not None}
            for ours in PAPER_TO_OURS[paper_model]:
                specs.append(RatioClaim(f"Fastformer is faster than {paper_model} ({word})", FIGURE2_SOURCE,
                                        mode, published, ("fastformer",), (ours,)))
                if paper_model == "Transformer":
                    specs.append(RatioClaim(
                        f"control: Fastformer without query-value sharing vs Transformer ({word})", FIGURE2_SOURCE,
                        mode, published, ("fastformer",), (ours,), ahead_form="no-sharing",
                        note="share_qv=False adds the fourth projection the paper's form saves"))
        fastest = {n: min(table[m][i] for m in PAPER_LINEAR_METHODS) / fast[n] for i, n in enumerate(SEQ_LENS)}
        specs.append(RatioClaim(
            f"Fastformer is 2-3x faster than the fastest other linear method ({word})", FIGURE2_SOURCE, mode,
            fastest, ("fastformer",), linear_layers or ("linear",),
            note="the paper's fastest is Longformer; ours is, at each length, the fastest of every measured layer "
                 "that declares linear time, at the source's hyper-parameters"))
    return specs


def _lra_claims() -> list[RatioClaim]:
    specs = []
    steps_t = dict(zip(LRA_SEQ_LENS, LRA_STEPS_PER_S["Transformer"], strict=True))
    gb_t = dict(zip(LRA_SEQ_LENS, LRA_PEAK_GB["Transformer"], strict=True))
    note = "LRA times a whole model on a TPU; this harness times one layer or one pre-LN block"
    for paper_model in ("Linformer", "Linear Transformer", "Performer"):
        steps = dict(zip(LRA_SEQ_LENS, LRA_STEPS_PER_S[paper_model], strict=True))
        gb = dict(zip(LRA_SEQ_LENS, LRA_PEAK_GB[paper_model], strict=True))
        ours = PAPER_TO_OURS[paper_model]
        for reference in PAPER_TO_OURS["Transformer"]:
            specs.append(RatioClaim(f"{paper_model} trains faster than Transformer", LRA_SOURCE, "train",
                                    {n: steps[n] / steps_t[n] for n in LRA_SEQ_LENS}, ours, (reference,),
                                    note=note))
            specs.append(RatioClaim(f"{paper_model} needs less training memory than Transformer", LRA_SOURCE,
                                    "train", {n: gb_t[n] / gb[n] for n in LRA_SEQ_LENS}, ours, (reference,),
                                    "peak_bytes", note))
    return specs


def _complexity_checks(configs: pd.DataFrame, scaling: pd.DataFrame) -> list[ClaimCheck]:
    checks = []
    series = scaling[(scaling["axis"] == "seq_len") & scaling["metric"].str.startswith("median_s")]
    for paper_model, expected in COMPLEXITY_CLASS_IN_N.items():
        claim = f"{paper_model} costs {COMPLEXITY[paper_model]}: {expected} in N"
        found = False
        for model in PAPER_TO_OURS[paper_model]:
            rows_m = configs[configs["model"] == model]
            if model == "fastformer":
                rows_m = rows_m.loc[rows_m["options"].map(lambda o: _fastformer_form(_options(o)) == "paper")
                                    .astype(bool)]
            for variant in sorted(rows_m["variant"].unique()):
                rows = series[series["variant"] == variant]
                if rows.empty:
                    continue
                found = True
                best = rows.assign(_fwd=rows["mode"] != "forward").sort_values(
                    ["_fwd", "range_max", "n_total"], ascending=[True, False, False], kind="stable").iloc[0]
                checks.append(_complexity_check(claim, expected, variant, best))
        if not found:
            checks.append(ClaimCheck(claim, SOURCE_TABLE7, f"{expected} in N", "-", "not measured",
                                     "not measured in this run (no time-vs-seq_len series)"))
    return checks


def _complexity_check(claim: str, expected: str, variant: str, best: pd.Series) -> ClaimCheck:
    if pd.notna(best["slope"]):
        measured = (f"{best['verdict']}: slope {best['slope']:.2f} [{best['ci_low']:.2f}, {best['ci_high']:.2f}]"
                    f" over N={int(best['x_min'])}-{int(best['x_max'])}")
    else:
        measured = best["note"] or best["verdict"]
    status = ("supported" if best["verdict"] == expected else
              "not supported" if best["verdict"] in ("linear", "quadratic") else "inconclusive")
    where = f"{best['device']} ({best['device_name'] or 'unknown device'})"
    note = (f"{variant}, {where}, {best['dtype']}, {best['mode']}, {best['coupling']} ({best['fixed']}); "
            f"timed with projections, which the paper's table excludes")
    return ClaimCheck(claim, SOURCE_TABLE7, f"{expected} in N", measured, status, note)


def _linear_layers(ok: pd.DataFrame) -> tuple[str, ...]:
    declared = ok[(ok["complexity_time"] == "linear") & (ok["model"] != "fastformer")]
    return tuple(sorted(declared["model"].unique()))


def check_claims(df: pd.DataFrame, scaling: pd.DataFrame | None = None) -> list[ClaimCheck]:
    """Check every claim (Figure 2 ratios, Table 7 complexity, LRA Table 2) against the run in `df`.

    `df` is a results table or its `config_table`; `scaling` is `scaling_table(df, "seq_len")`,
    computed when not given.
    """
    configs = combined(df)
    if scaling is None:
        scaling = scaling_table(configs, "seq_len")
    ok = configs[(configs["status"] == "ok") & (configs["causal"].astype(str) != "True")].copy()
    ok[HARDWARE_FIELD] = ok[HARDWARE_FIELD].astype(object).where(ok[HARDWARE_FIELD].notna(), "")
    ok["compile"] = ok["compile"].map(compile_mode) if "compile" in ok.columns else "eager"
    ok["tf32"] = ok["tf32"].map(flag) if "tf32" in ok.columns else False
    for name in ("median_s", "peak_bytes"):
        ok[name] = pd.to_numeric(ok[name])
    memory_ok = ok.assign(overhead_bound=False)  # a fixed time cost says nothing about memory
    checks = []
    for spec in _figure2_claims(_linear_layers(ok)) + _lra_claims():
        rows = ok if spec.metric == "median_s" else memory_ok
        checks.extend(_evaluate(rows[rows[spec.metric].notna() & (rows[spec.metric] > 0)], spec))
    checks.extend(_complexity_checks(configs, scaling))
    return checks

