"""A Markdown report of one run: summary, claims check, scaling verdicts, crossovers, largest sizes, FLOP/s,
results, failures, environment and the command that reproduces it.

Every number printed comes from the results table; predictions for skipped configurations appear only
in the failures section and are labelled as predictions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from bench.analysis import (
    VERDICT_RULE,
    achieved_flops,
    crossovers,
    first_line,
    largest_fit,
    scaling_table,
)
from bench.claims import TOLERANCE_RULE, ClaimCheck, check_claims
from bench.plots import make_plots
from bench.units import format_bytes, format_seconds

ENV_ORDER = (
    "torch_version", "cuda_version", "cudnn_version", "gpu_name", "gpu_count", "gpu_memory_bytes",
    "driver_version", "cpu_model", "cpu_logical_cores", "cpu_physical_cores", "torch_threads",
    "python_version", "os", "kernel", "machine", "git_commit", "git_dirty", "packages",
)
FAILURE_STATUSES = ("oom", "timeout", "error", "skipped")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: object, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}g}"


def _int(value: object) -> str:
    return "-" if value is None or pd.isna(value) else str(int(value))


def _setting(row: pd.Series) -> str:
    name = row.get("device_name")
    where = f"{row['device']} ({name})" if isinstance(name, str) and name else str(row["device"])
    causal = ", causal" if str(row.get("causal")) == "True" else ""
    return f"{where}, {row['dtype']}, {row['mode']}, {row['scope']}{causal}"


def _main_series(scaling: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the series that says most about asymptotics: forward first, longest range, most points."""
    if scaling.empty:
        return scaling
    ordered = scaling.assign(_fwd=scaling["mode"] != "forward").sort_values(
        ["_fwd", "x_max", "n_total"], ascending=[True, False, False], kind="stable")
    return ordered.drop_duplicates("variant").drop(columns="_fwd").sort_values("variant")


def _summary(df: pd.DataFrame, time_scaling: pd.DataFrame, vs_sdpa: pd.DataFrame,
             claims: list[ClaimCheck]) -> str:
    if df.empty:
        return "This run holds no results."
    counts = df["status"].value_counts()
    status_text = ", ".join(f"{counts[s]} {s}" for s in ("ok", *FAILURE_STATUSES) if s in counts)
    measured = df[df["status"] == "ok"] if (df["status"] == "ok").any() else df
    devices = ", ".join(sorted({_setting(r).split(",")[0] for _, r in measured.iterrows()}))
    parts = [f"This run holds {len(df)} configurations of {df['variant'].nunique()} variants on {devices} "
             f"({status_text})."]
    main = _main_series(time_scaling)
    if not main.empty:
        groups: dict[str, list[str]] = {}
        for _, row in main.iterrows():
            fit_range = f"N={_int(row['x_min'])}-{_int(row['x_max'])}"
            groups.setdefault(row["verdict"], []).append(
                f"{row['variant']} (slope {row['slope']:.2f} over {fit_range})")
        words = {"linear": "linearly", "quadratic": "quadratically",
                 "inconclusive": "with an inconclusive slope"}
        parts.append("Time grows with sequence length " + "; ".join(
            f"{words[v]} for {', '.join(names)}" for v, names in groups.items()) + ".")
    else:
        parts.append("No variant was measured at two or more sequence lengths, "
                     "so there is no scaling verdict.")
    if not vs_sdpa.empty:
        crossing = [f"{r['variant']} from N={_int(r['faster_from'])} (slower at {_int(r['slower_at'])})"
                    for _, r in vs_sdpa.iterrows() if r["outcome"] == "crosses"]
        always = [r["variant"] for _, r in vs_sdpa.iterrows() if r["outcome"] == "always"]
        never = [f"{r['variant']} (up to N={_int(r['n_max'])})" for _, r in vs_sdpa.iterrows()
                 if r["outcome"] == "never in range"]
        if crossing:
            parts.append("Against sdpa, these become faster: " + "; ".join(crossing) + ".")
        if always:
            parts.append("Faster than sdpa at every measured length: " + ", ".join(sorted(set(always))) + ".")
        if never:
            parts.append("Not faster than sdpa at the longest common length: " + ", ".join(never) + ".")
    tally = pd.Series([c.status for c in claims]).value_counts()
    unmeasured = sum(c.status == "inconclusive" and "not measured in this run" in c.note for c in claims)
    why = f" ({unmeasured} because this run did not measure the published configuration)" if unmeasured else ""
    parts.append(f"Of {len(claims)} published claim checks, {tally.get('supported', 0)} are supported, "
                 f"{tally.get('not supported', 0)} not supported and {tally.get('inconclusive', 0)} "
                 f"inconclusive{why}.")
    return " ".join(parts)


def _claims_section(claims: list[ClaimCheck]) -> str:
    rows = [(c.claim, c.source, c.published, c.measured, f"**{c.status}**", c.note) for c in claims]
    return "\n\n".join([
        "## Claims check",
        "Published ratios (other model's time / Fastformer's time, or the like) against the same ratio "
        "measured here. Measured ratios are listed as ratio@N.",
        TOLERANCE_RULE,
        _table(("claim", "source", "published", "measured", "status", "note"), rows),
    ])


def _scaling_rows(scaling: pd.DataFrame, unit: str) -> list[tuple]:
    rows = []
    for _, r in scaling.iterrows():
        ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if pd.notna(r["ci_low"]) else "no CI"
        slope = "-" if pd.isna(r["slope"]) else f"{r['slope']:.2f}"
        rows.append((
            r["variant"], _setting(r), f"{r['coupling']}: {r['fixed']}", r["metric"],
            f"{_int(r['range_min'])}-{_int(r['range_max'])} ({r['n_total']})",
            f"{_int(r['x_min'])}-{_int(r['x_max'])}", slope, ci,
            f"{_num(r['a'])} {unit} + {_num(r['b'])} x + {_num(r['c'])} x²", f"{r['quadratic_share']:.0%}",
            f"**{r['verdict']}**", r["expected"],
        ))
    return rows


SCALING_HEADERS = ("variant", "setting", "series", "metric", "range (points)", "fit range", "slope",
                   "95 % CI", "non-negative fit a + b x + c x²", "x² share at max", "verdict", "expected")


def _scaling_section(tables: dict[str, pd.DataFrame], plots: list[str]) -> str:
    parts = ["## Scaling", VERDICT_RULE,
             "For fixed-tokens series (batch = tokens / N) the metric is per sequence (divided by the "
             "batch), so the exponent is 1 for linear and 2 for quadratic layers in both couplings. The "
             "quadratic fit uses all points of a series; 'x² share at max' is c x² / (a + b x + c x²) at the "
             "largest x. 'expected' is the asymptotic class of the algorithm, shown for comparison only."]
    titles = {"time_seq_len": ("Time vs sequence length", "s"),
              "memory_seq_len": ("Peak memory vs sequence length", "B"),
              "time_batch": ("Time vs batch", "s"), "time_d_model": ("Time vs model width", "s")}
    for name, (title, unit) in titles.items():
        table = tables[name]
        parts.append(f"### {title}")
        parts.append(_table(SCALING_HEADERS, _scaling_rows(table, unit)) if not table.empty else
                     "No series of two or more sizes along this axis in this run.")
    parts += _embed(plots, ("time_vs_", "memory_vs_"))
    return "\n\n".join(parts)


def _embed(plots: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [f"![{Path(p).stem}]({p})" for p in plots if Path(p).name.startswith(prefixes)]


def _crossover_section(tables: dict[str, pd.DataFrame], plots: list[str]) -> str:
    parts = ["## Crossovers",
             "The sequence length from which a variant's median time is lower than the reference's at the "
             "same configuration and stays lower: between the last length where it was slower and the "
             "first where it was faster. 'speed-up at max' is t_reference / t_variant at the longest "
             "common length."]
    for reference, table in tables.items():
        parts.append(f"### Against {reference}")
        if table.empty:
            parts.append(f"No configuration measured for both {reference} and another variant.")
            continue
        rows = []
        for _, r in table.iterrows():
            crosses = r["outcome"] == "crosses"
            interval = f"({_int(r['slower_at'])}, {_int(r['faster_from'])}]" if crosses else "-"
            rows.append((r["variant"], r["reference"], _setting(r), f"{r['coupling']}: {r['fixed']}",
                         r["outcome"], interval, f"{_int(r['n_min'])}-{_int(r['n_max'])} ({r['n_common']})",
                         f"{r['speedup_at_max']:.2f}x", r["note"] or ""))
        parts.append(_table(("variant", "reference", "setting", "series", "outcome", "crossover (N)",
                             "common N (points)", "speed-up at max", "note"), rows))
    parts += _embed(plots, ("speedup_",))
    return "\n\n".join(parts)


def _largest_section(table: pd.DataFrame) -> str:
    parts = ["## Largest sequence length that fit",
             "Largest length measured successfully and the smallest that ran out of memory, timed out or was "
             "skipped by the budget predictor (errors are listed under failures)."]
    if table.empty:
        parts.append("No sequence-length sweep in this run.")
        return "\n\n".join(parts)
    rows = []
    for _, r in table.iterrows():
        ok = f"{_int(r['largest_ok_seq_len'])} (B={_int(r['largest_ok_batch'])})" if pd.notna(
            r["largest_ok_seq_len"]) else "none"
        failed = (f"{_int(r['smallest_failed_seq_len'])} (B={_int(r['failed_batch'])}, {r['failed_status']}: "
                  f"{r['failed_reason'] or 'no detail'})" if pd.notna(r["smallest_failed_seq_len"]) else
                  "none in range")
        rows.append((r["variant"], _setting(r), f"{r['coupling']}: {r['fixed']}", ok, failed))
    parts.append(_table(("variant", "setting", "series", "largest ok N", "smallest failed N"), rows))
    return "\n\n".join(parts)


def _flops_section(table: pd.DataFrame, plots: list[str]) -> str:
    parts = ["## Achieved FLOP/s",
             "Best achieved rate per variant and setting: counted FLOPs (else the analytic count) / median "
             "time. The fraction of peak is given only for GPUs with a dense peak from the vendor datasheet; "
             "for CPUs and other devices the peak is unknown and no fraction is printed. fp32 peaks assume "
             "TF32 is off (PyTorch's matmul default)."]
    if table.empty:
        parts.append("No FLOP counts in this run.")
        return "\n\n".join(parts)
    best = table.sort_values("flops_per_s", ascending=False, kind="stable").drop_duplicates(
        ["variant", "device", "device_name", "dtype", "mode", "scope", "causal"])
    rows = []
    for _, r in best.sort_values(["variant", "device", "mode"], kind="stable").iterrows():
        fraction = f"{r['fraction_of_peak']:.1%} of {r['peak_flops_per_s'] / 1e12:.4g} TFLOP/s" if pd.notna(
            r["fraction_of_peak"]) else "unknown peak"
        at = f"B={r['batch']}, N={r['seq_len']}, d={r['d_model']}, h={r['n_heads']}"
        rows.append((r["variant"], _setting(r), at, f"{r['flops'] / 1e9:.4g} GFLOP ({r['flops_source']})",
                     format_seconds(r["median_s"]), f"{r['flops_per_s'] / 1e9:.4g} GFLOP/s", fraction))
    parts.append(_table(("variant", "setting", "at", "work", "median time", "achieved", "fraction of peak"),
                        rows))
    parts += _embed(plots, ("flops_",))
    return "\n\n".join(parts)


def _results_section(df: pd.DataFrame) -> str:
    ok = df[df["status"] == "ok"]
    parts = ["## Results", "Median time per call ± interquartile range over the raw samples; peak is the "
             "activation peak memory."]
    if ok.empty:
        parts.append("No configuration was measured successfully.")
        return "\n\n".join(parts)
    ordered = ok.sort_values(["device", "dtype", "mode", "variant", "batch", "d_model", "seq_len"],
                             kind="stable")
    rows = [(r["variant"], _setting(r), r["batch"], r["seq_len"], r["d_model"], r["n_heads"],
             f"{format_seconds(r['median_s'])} ± {format_seconds(r['iqr_s'])}", _int(r["n_samples"]),
             "yes" if r["noisy"] is True else "", format_bytes(r["peak_bytes"]))
            for _, r in ordered.iterrows()]
    headers = ("variant", "setting", "B", "N", "d", "h", "median ± IQR", "samples", "noisy", "peak")
    parts.append(_table(headers, rows))
    return "\n\n".join(parts)


def _failures_section(df: pd.DataFrame) -> str:
    failed = df[df["status"].isin(FAILURE_STATUSES)]
    parts = ["## Failures and skipped configurations"]
    if failed.empty:
        parts.append("None: every configuration was measured.")
        return "\n\n".join(parts)
    rows = []
    for _, r in failed.sort_values(["status", "variant", "seq_len"], kind="stable").iterrows():
        if r["status"] == "skipped":
            detail = (f"{r['skip_reason'] or 'no reason recorded'} (prediction, not measured: time "
                      f"{format_seconds(r['predicted_s'])}, peak {format_bytes(r['predicted_bytes'])})")
        else:
            detail = first_line(r["error"]) or "no error message recorded"
        rows.append((r["status"], r["variant"], _setting(r), r["batch"], r["seq_len"], r["d_model"],
                     r["n_heads"], detail))
    parts.append(_table(("status", "variant", "setting", "B", "N", "d", "h", "detail"), rows))
    return "\n\n".join(parts)


def _env_value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()) if v is not None) or "-"
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return _cell(value)


def _environment_section(environments: dict) -> str:
    parts = ["## Environment"]
    if not environments:
        parts.append("No environment fingerprint was recorded.")
        return "\n\n".join(parts)
    if not all(isinstance(v, dict) for v in environments.values()):
        environments = {"environment": environments}
    for env_id, fingerprint in environments.items():
        keys = [k for k in ENV_ORDER if k in fingerprint]
        keys += sorted(k for k in fingerprint if k not in ENV_ORDER)
        parts.append(f"### {env_id}")
        parts.append(_table(("field", "value"), [(k, _env_value(fingerprint[k])) for k in keys]))
    return "\n\n".join(parts)


def render_report(df: pd.DataFrame, environments: dict, *, run_id: str, command: str, plots: list[Path],
                  outdir: str | Path, n_boot: int = 1000) -> str:
    """The report as Markdown; `plots` are embedded with links relative to `outdir`."""
    links = [os.path.relpath(Path(p), Path(outdir)).replace(os.sep, "/") for p in plots]
    scaling = {
        "time_seq_len": scaling_table(df, "seq_len", "median_s", n_boot=n_boot),
        "memory_seq_len": scaling_table(df, "seq_len", "peak_bytes", n_boot=n_boot),
        "time_batch": scaling_table(df, "batch", "median_s", n_boot=n_boot),
        "time_d_model": scaling_table(df, "d_model", "median_s", n_boot=n_boot),
    }
    cross = {"sdpa": crossovers(df, "sdpa"), "softmax": crossovers(df, "softmax")}
    claims = check_claims(df, scaling["time_seq_len"])
    sections = [
        f"# attnbench report: run {run_id}",
        _summary(df, scaling["time_seq_len"], cross["sdpa"], claims),
        _claims_section(claims),
        _scaling_section(scaling, links),
        _crossover_section(cross, links),
        _largest_section(largest_fit(df)),
        _flops_section(achieved_flops(df), links),
        _results_section(df),
        _failures_section(df),
        _environment_section(environments),
        f"## Reproduce\n\n```\n{command}\n```",
    ]
    return "\n\n".join(sections) + "\n"


def write_report(df: pd.DataFrame, environments: dict, outdir: str | Path, *, run_id: str,
                 command: str) -> Path:
    """Draw the plots into outdir/plots and write outdir/report.md; returns the report's path."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(df, out / "plots")
    path = out / "report.md"
    path.write_text(render_report(df, environments, run_id=run_id, command=command, plots=plots, outdir=out))
    return path
