"""Speed checks: a slower layer fails by name, at every size or only at its longest ones; one drifting
measurement, a slow cache mode at a short size, a moving reference and a faster or slower machine do not
fail anything; a regression every layer shares fails on any hardware whose probe links it to the
baseline's. Runs are synthetic (tests/fixtures/gate_data.py), two per gate, against three pooled."""

import dataclasses

import pandas as pd
import pytest

from bench.gate import CheckResult, GateReport, SpeedRule, run_gate
from tests.fixtures.gate_data import CPU_A, CPU_B, MODELS, make_runs


def _failed(report: GateReport, kind: str) -> list[CheckResult]:
    return [c for c in report.failures if c.kind == kind]


def _sized(report: GateReport, kind: str, model: str) -> dict[int, CheckResult]:
    return {c.key.seq_len: c for c in report.checks if c.kind == kind and c.key is not None and c.key.model == model}


def test_thirty_percent_more_work_fails_the_relative_check_of_that_variant_only(policy, baseline):
    report = run_gate(make_runs(CPU_B, seeds=(5, 6), machine=1.2, slowdown={"linear": 1.3}), baseline, policy)
    failed = _failed(report, "relative")
    assert failed and {c.key.model for c in failed} == {"linear"}
    assert {c.kind for c in report.failures} == {"relative"}
    assert len(failed) >= 3  # of the 7 sizes; each run alone must show it, and drift holds some under 25 %
    worst = max(failed, key=lambda c: c.change)
    assert worst.change > 0.25 and worst.current > worst.baseline and worst.q_value < 0.01
    assert "Mann-Whitney q=" in worst.reason and "pass medians" in worst.reason and "> 25%" in worst.reason


@pytest.mark.parametrize("slowed", [{8192: 1.4}, {4096: 1.35, 8192: 1.35}, {2048: 1.6, 4096: 1.6, 8192: 1.6}],
                         ids=["+40% at the largest N", "+35% at the two largest", "+60% at the three largest"])
def test_a_regression_confined_to_the_long_sizes_fails_there(policy, baseline, slowed):
    """The rows of the issue that passed the layer-median guard: the long half is judged size by size."""
    runs = make_runs(CPU_A, seeds=(7, 8), size_slowdown={("fastformer", n): f for n, f in slowed.items()})
    report = run_gate(runs, baseline, policy)
    failed = {c.key.seq_len for c in report.failures if c.kind == "relative"}
    assert failed and failed <= set(slowed) and {c.key.model for c in report.failures if c.key} == {"fastformer"}
    assert max(slowed) in failed


def test_on_other_hardware_every_size_needs_the_layer_median(policy, baseline):
    """Ratios move per size with another CPU's caches, so there a size-confined change is not judged alone."""
    runs = make_runs(CPU_B, seeds=(7, 8), size_slowdown={("fastformer", 4096): 1.6, ("fastformer", 8192): 1.6})
    report = run_gate(runs, baseline, policy)
    assert report.passed
    assert "other hardware: judged per layer" in _sized(report, "relative", "fastformer")[8192].reason


def test_one_short_size_stuck_in_a_slow_mode_in_both_runs_passes(policy, baseline):
    """A small working set can straddle a shared cache for a whole CI job; the layer's median did not move."""
    runs = make_runs(CPU_A, seeds=(13, 14), size_slowdown={("softmax", 256): 2.0})
    report = run_gate(runs, baseline, policy)
    assert report.passed
    check = _sized(report, "relative", "softmax")[256]
    assert check.change > 0.8 and "in its short half" in check.reason


def test_one_drifting_reference_measurement_does_not_fail_every_layer_at_its_shape(policy, baseline):
    runs = make_runs(CPU_B, seeds=(12, 13), size_slowdown={("sdpa", 4096): 0.7})
    report = run_gate(runs, baseline, policy)
    at_shape = [c for c in report.checks if c.kind == "relative" and c.key.seq_len == 4096]
    assert len(at_shape) == 4 and all(c.change > 0.25 for c in at_shape)  # every ratio jumped...
    assert report.passed  # ...but against sdpa's speed over all sizes nothing moved
    assert all("sdpa's median speed change" in c.reason for c in at_shape)


def test_a_slowdown_under_the_relative_threshold_passes(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(6, 7), slowdown={"linear": 1.12}), baseline, policy)
    assert report.passed
    assert any("<= 25%" in c.reason for c in _sized(report, "relative", "linear").values())


def test_a_slowdown_that_costs_less_than_the_floor_passes(policy, baseline):
    lenient = dataclasses.replace(policy, relative=SpeedRule(threshold=0.25, floor_s=1.0, alpha=0.01))
    report = run_gate(make_runs(CPU_B, seeds=(5, 6), slowdown={"linear": 1.3}), baseline, lenient)
    assert not _failed(report, "relative")
    assert any("floor 1 s" in c.reason for c in _sized(report, "relative", "linear").values())


def test_a_slowdown_with_too_few_passes_to_be_significant_passes(policy, baseline):
    """Two runs of one pass each against nine: no ordering of 2 vs 9 values reaches q < 0.01."""
    report = run_gate(make_runs(CPU_B, seeds=(5, 6), passes=1, slowdown={"linear": 1.5}), baseline, policy)
    assert not _failed(report, "relative")
    assert any("2 vs 9 pass medians" in c.reason and ">= 0.01" in c.reason
               for c in _sized(report, "relative", "linear").values())


# ------------------------------------------------------------------------------------------- moving reference

def test_a_faster_reference_is_reported_and_blames_no_other_layer(policy, baseline):
    """A torch upgrade made sdpa 30 % faster: every ratio rose 43 %, yet nothing else changed."""
    report = run_gate(make_runs(CPU_A, seeds=(9, 10), slowdown={"sdpa": 0.7}), baseline, policy)
    assert report.passed
    [moved] = [c for c in report.checks if c.kind == "reference"]
    assert moved.status == "warn" and moved.change == pytest.approx(-0.3, abs=0.05)
    assert moved.reason.startswith("sdpa moved by -3") and "re-baseline" in moved.reason
    relative = [c for c in report.checks if c.kind == "relative"]
    assert relative and all("for its own" in c.reason and "(sdpa moved in this setting)" in c.reason for c in relative)


def test_with_the_reference_moved_a_real_regression_still_fails_on_its_own_time(policy, baseline):
    runs = make_runs(CPU_A, seeds=(11, 12), slowdown={"sdpa": 0.7, "linear": 1.6})
    report = run_gate(runs, baseline, policy)
    assert {c.key.model for c in _failed(report, "absolute")} == {"linear"}
    assert any(c.kind == "reference" and c.status == "warn" for c in report.checks)


def test_a_slower_machine_does_not_move_the_reference(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(3, 4), machine=1.4), baseline, policy)
    assert report.passed
    [steady] = [c for c in report.checks if c.kind == "reference"]
    assert steady.status == "pass" and abs(steady.change) < 0.15  # probe-normalised


# ------------------------------------------------------------------------------------------- absolute and shared

def test_a_slower_reference_layer_is_caught_by_the_absolute_check_on_the_same_hardware(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(11, 12), slowdown={"sdpa": 2.0}), baseline, policy)
    assert {c.key.model for c in _failed(report, "absolute")} == {"sdpa"}
    assert not _failed(report, "relative")  # the other layers only got relatively faster


def test_per_configuration_times_are_compared_on_the_baseline_hardware_only(policy, baseline):
    report = run_gate(make_runs(CPU_B, seeds=(2, 3)), baseline, policy)
    [absolute] = [c for c in report.checks if c.kind == "absolute"]
    assert absolute.status == "skipped"
    assert "Synthetic CPU A" in absolute.reason and "Synthetic CPU B" in absolute.reason
    assert report.passed


def test_every_layer_slower_fails_the_shared_check_on_other_hardware(policy, baseline):
    """Ratios cannot see code every layer shares; the probe-normalised median change can."""
    runs = make_runs(CPU_B, seeds=(14, 15), machine=1.3, slowdown=dict.fromkeys(MODELS, 1.5))
    report = run_gate(runs, baseline, policy)
    assert {c.kind for c in report.failures} == {"shared"}
    [shared] = report.failures
    assert shared.change == pytest.approx(0.5, abs=0.1) and "on other hardware" in shared.reason
    reporting = dataclasses.replace(policy, other_hardware="report")
    [warned] = [c for c in run_gate(runs, baseline, reporting).checks if c.kind == "shared"]
    assert warned.status == "warn" and "reported only" in warned.reason


def test_without_a_probe_other_hardware_cannot_be_compared_and_the_shared_check_says_so(policy, baseline):
    runs = make_runs(CPU_B, seeds=(14, 15), probe=False, slowdown=dict.fromkeys(MODELS, 1.5))
    [shared] = [c for c in run_gate(runs, baseline, policy).checks if c.kind == "shared"]
    assert shared.status == "skipped" and "machine-speed probe" in shared.reason


def test_absolute_times_without_a_probe_fall_back_to_seconds_on_the_same_hardware(policy):
    from bench.gate import make_baseline

    base = make_baseline(make_runs(CPU_A, seeds=(1, 2, 3), prefix="b", probe=False), policy)
    assert all(entry["normalized"] is None for entry in base.configurations.values())
    report = run_gate(make_runs(CPU_A, seeds=(4, 5), probe=False, slowdown={"sdpa": 2.0}), base, policy)
    assert {c.key.model for c in _failed(report, "absolute")} == {"sdpa"}
    assert pd.notna(report.failures[0].current)


def test_every_other_layer_slower_with_the_reference_unchanged_still_fails(policy, baseline):
    """All non-reference layers 35 % slower looks like a faster reference to the ratios; their own time
    says otherwise, so the relative checks still fail them."""
    runs = make_runs(CPU_A, seeds=(16, 17), slowdown=dict.fromkeys(set(MODELS) - {"sdpa"}, 1.35))
    report = run_gate(runs, baseline, policy)
    assert any(c.kind == "reference" and c.status == "warn" for c in report.checks)
    failed = _failed(report, "relative")
    assert failed and all("for its own" in c.reason for c in failed)
