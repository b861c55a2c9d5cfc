"""Every check of a run against a baseline, in display order: status, scaling, crossover, reference,
relative, absolute, shared. The modules `status`, `scaling` and `speed` hold the checks themselves."""

from __future__ import annotations

from bench.gate.baseline import Baseline
from bench.gate.observed import Observed, crossover_points, series_fits
from bench.gate.policy import GatePolicy
from bench.gate.scaling import crossover_checks, scaling_checks
from bench.gate.speed import absolute_checks, reference_moves, relative_checks, shared_check
from bench.gate.status import status_checks
from bench.gate.verdict import CheckResult


def all_checks(run: Observed, baseline: Baseline, policy: GatePolicy, *,
               significance: bool = True) -> list[CheckResult]:
    """Every check of `run` against `baseline`.

    `significance=False` leaves the significance criteria out, judging point estimates (a single run of
    a confirmation, which has too few replicates to test on its own).
    """
    reference, moved = reference_moves(run, baseline, policy)
    return [
        *status_checks(run, baseline),
        *scaling_checks(series_fits(run.ok, policy), baseline, policy, significance),
        *crossover_checks(crossover_points(run.ok, policy), baseline, policy),
        *reference,
        *relative_checks(run, baseline, policy, moved, significance),
        *absolute_checks(run, baseline, policy, significance),
        *shared_check(run, baseline, policy),
    ]
