"""`run_gate`: check a run (a results table) against a baseline under a policy, confirmed over its runs."""

from __future__ import annotations

import pandas as pd

from bench.gate.baseline import Baseline
from bench.gate.checks import all_checks
from bench.gate.confirmation import confirmed
from bench.gate.errors import GateError
from bench.gate.observed import prepare
from bench.gate.policy import GatePolicy
from bench.gate.verdict import GateReport


def run_gate(df: pd.DataFrame, baseline: Baseline, policy: GatePolicy) -> GateReport:
    """Check a run (results table with its hardware column) against a baseline; see the package docstring."""
    if baseline.reference != policy.reference:
        raise GateError(f"the baseline's ratios are relative to {baseline.reference!r} but the policy's "
                        f"reference is {policy.reference!r}; use the policy the baseline was made with or "
                        f"update the baseline")
    run = prepare(df, policy.reference, "the run")
    wanted = baseline.configurations
    if not any(key in run.configs for key in wanted):
        base_variants = sorted({entry["variant"] for entry in wanted.values()})
        run_variants = sorted({key.variant for key in run.configs})
        example = next(iter(wanted)).label() if wanted else "-"
        raise GateError(f"none of the baseline's {len(wanted)} configurations appear in this run (baseline: "
                        f"{', '.join(base_variants)}, e.g. {example!r}; run: {', '.join(run_variants)}, e.g. "
                        f"{next(iter(run.configs)).label()!r}); run the baseline's sweep or refresh the baseline "
                        f"with --update-baseline")
    notes = list(run.notes)
    new = sorted((key for key in run.configs if key not in wanted), key=lambda key: key.label())
    if new:
        notes.append(f"{len(new)} configuration(s) of this run are not in the baseline and were not compared "
                     f"(e.g. {new[0].label()})")
    return GateReport(confirmed(all_checks(run, baseline, policy), df, baseline, policy), notes)
