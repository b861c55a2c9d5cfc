"""Confirmation over several runs: with two or more runs (run_ids) in the table, a failure of the pooled
runs stands only if every run shows it on its own."""

from __future__ import annotations

import dataclasses

import pandas as pd

from bench.gate.baseline import Baseline
from bench.gate.checks import all_checks
from bench.gate.observed import prepare
from bench.gate.policy import GatePolicy
from bench.gate.verdict import CheckResult


def confirmed(checks: list[CheckResult], df: pd.DataFrame, baseline: Baseline,
              policy: GatePolicy) -> list[CheckResult]:
    """`checks` with each failure that some run alone passes turned into a pass saying so (or into a
    warning, when a run alone only warns: a slower machine explains it there).

    Each run is checked on its own with every criterion but significance (one run has too few passes to
    test; the pooled runs were tested): a failure stands when no run alone passes it. A check a run
    alone cannot make (skipped there, or missing) does not overturn it.
    """
    run_ids = df["run_id"].fillna("").astype(str) if "run_id" in df else pd.Series("", index=df.index)
    if run_ids.nunique() < 2 or not any(c.status == "fail" for c in checks):
        return checks
    alone = {}
    for run_id in sorted(set(run_ids)):
        observed = prepare(df[run_ids == run_id], baseline.reference, f"run {run_id}")
        alone[run_id] = {(c.kind, c.key, c.metric): c
                         for c in all_checks(observed, baseline, policy, significance=False)}
    result = []
    for check in checks:
        if check.status == "fail":
            for run_id, by_key in alone.items():
                other = by_key.get((check.kind, check.key, check.metric))
                if other is not None and other.status in ("pass", "warn"):
                    check = dataclasses.replace(check, status=other.status, reason=(
                        f"not confirmed: run {run_id!r} alone does not show it ({other.reason}); all runs "
                        f"pooled: {check.reason}"))
                    if other.status == "pass":
                        break
        result.append(check)
    return result
