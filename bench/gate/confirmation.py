"""Confirmation over several runs: with two or more runs (run_ids) in the table, a failure of the pooled
runs stands only if every run shows it on its own."""

from __future__ import annotations

import dataclasses

import pandas as pd

from bench.gate.baseline import Baseline
from bench.gate.checks import all_checks, layer_change
from bench.gate.observed import Observed, layer_group, prepare
from bench.gate.policy import GatePolicy
from bench.gate.verdict import CheckResult, percent


@dataclasses.dataclass
class _RunAlone:
    """One run of the table checked on its own: its checks by (kind, key, metric) and its layer changes."""

    run_id: str
    observed: Observed
    checks: dict[tuple, CheckResult]
    layers: dict[str, dict[tuple, tuple[float, int]]]


def confirmed(checks: list[CheckResult], df: pd.DataFrame, baseline: Baseline,
              policy: GatePolicy) -> list[CheckResult]:
    """`checks` with each failure that some run alone does not show turned into a pass saying so.

    Scaling and crossover failures are re-checked on each run alone. A speed (relative or absolute)
    failure is confirmed on its layer's median change over its sizes, which each run alone must also
    push past the threshold: single configurations swing by tens of per cent between runs on a shared
    CPU (they are judged on the pooled samples), the layer's median moves by a few per cent.
    """
    run_ids = df["run_id"].fillna("").astype(str) if "run_id" in df else pd.Series("", index=df.index)
    if run_ids.nunique() < 2 or not any(c.status == "fail" for c in checks):
        return checks
    alone = []
    for run_id in sorted(set(run_ids)):
        observed = prepare(df[run_ids == run_id], baseline.reference, f"run {run_id}")
        by_key = {(c.kind, c.key, c.metric): c for c in all_checks(observed, baseline, policy)}
        layers = {"relative": layer_change(observed, baseline, relative=True),
                  "absolute": layer_change(observed, baseline, relative=False)}
        alone.append(_RunAlone(run_id, observed, by_key, layers))
    result = []
    for check in checks:
        if check.status == "fail":
            for run in alone:
                why = _not_shown_by(check, run, baseline, policy)
                if why is not None:
                    check = dataclasses.replace(check, status="pass", reason=(
                        f"not confirmed: run {run.run_id!r} alone {why}; all runs pooled: {check.reason}"))
                    break
        result.append(check)
    return result


def _not_shown_by(check: CheckResult, run: _RunAlone, baseline: Baseline, policy: GatePolicy) -> str | None:
    """Why one run alone does not show a pooled failure, or None when it shows it too."""
    if check.kind not in run.layers:
        other = run.checks.get((check.kind, check.key, check.metric))
        return f"passes ({other.reason})" if other is not None and other.status == "pass" else None
    before = baseline.configurations.get(check.key)
    if before is None or check.key not in run.observed.configs:
        return None
    rule = getattr(policy.rule_for(before["variant"], before["model"]), check.kind)
    change = run.layers[check.kind].get(layer_group(check.key))
    if change is None or change[0] > rule.threshold:
        return None
    return (f"does not show it: the layer's median change over its {change[1]} size(s) is "
            f"{percent(change[0], rule.threshold)} <= {rule.threshold:.0%}")
