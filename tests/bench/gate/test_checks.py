"""The gate stays quiet on run-to-run noise and fails on real regressions, naming them.

Runs are synthetic (tests/fixtures/gate_data.py): known cost curves, a machine factor of 0.8 or 1.2 for
the whole run (a shared CI runner), a few per cent of independent drift per configuration and per-sample
jitter with spikes. The baseline was measured on CPU A; runs on CPU B skip the absolute check.
"""

import dataclasses

import pandas as pd
import pytest

from bench.display.gate import render_gate_report
from bench.gate import CheckResult, GateError, GateReport, SpeedRule, run_gate
from bench.results.identity import ConfigKey
from tests.fixtures.gate_data import CPU_A, CPU_B, MODELS, make_results


def _failed(report: GateReport, kind: str) -> list[CheckResult]:
    return [c for c in report.failures if c.kind == kind]


# ------------------------------------------------------------------------------------------- noise

@pytest.mark.parametrize(("machine", "seed"), [(0.8, 2), (1.2, 3), (1.2, 4)])
def test_unchanged_code_passes_every_check_despite_a_20_percent_machine_swing(policy, baseline, machine, seed):
    report = run_gate(make_results(CPU_A, seed=seed, machine=machine), baseline, policy)
    assert report.passed, render_gate_report(report, show_passed=False)
    for kind in ("scaling", "crossover", "relative", "absolute"):
        assert any(c.kind == kind and c.status == "pass" for c in report.checks), kind
    assert not [c for c in report.checks if c.status == "skipped"]


def test_every_model_of_the_synthetic_runs_is_gated(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=2), baseline, policy)
    subjects = {c.subject.split()[0] for c in report.checks if c.kind == "relative"}
    assert subjects == set(MODELS) - {"sdpa"}


# ------------------------------------------------------------------------------------------- relative speed

def test_thirty_percent_more_work_fails_the_relative_check_of_that_variant_only(policy, baseline):
    report = run_gate(make_results(CPU_B, seed=5, machine=1.2, slowdown={"linear": 1.3}), baseline, policy)
    assert not report.passed
    failed = _failed(report, "relative")
    assert failed and all(c.key.model == "linear" and c.subject.startswith("linear ") for c in failed)
    assert len(failed) >= 5  # of the 7 sizes; drift can hold one or two under the 25 % threshold
    assert not _failed(report, "scaling") and not _failed(report, "crossover")
    worst = max(failed, key=lambda c: c.change)
    assert worst.change > 0.25 and worst.current > worst.baseline
    assert "Mann-Whitney" in worst.reason and "> 25%" in worst.reason


def test_one_drifting_reference_measurement_does_not_fail_every_layer_at_its_shape(policy, baseline):
    run = make_results(CPU_B, seed=12)
    lucky = run["variant"].eq("sdpa") & run["seq_len"].eq(4096)
    run.loc[lucky, "samples_s"] = run.loc[lucky, "samples_s"].map(lambda samples: [s * 0.7 for s in samples])
    report = run_gate(run, baseline, policy)
    at_shape = [c for c in report.checks if c.kind == "relative" and c.key.seq_len == 4096]
    assert len(at_shape) == 4 and all(c.change > 0.3 for c in at_shape)  # every ratio jumped...
    assert report.passed  # ...but against sdpa's speed over all sizes nothing moved
    assert all("median speed change over all sizes" in c.reason for c in at_shape)


def _burst(run: pd.DataFrame, factor: float = 3.0, sizes: tuple[int, ...] = (256,)) -> pd.DataFrame:
    """`run` with softmax at `sizes` slowed down by contention lasting their whole measurement."""
    hit = run["variant"].eq("softmax") & run["seq_len"].isin(sizes)
    run = run.copy()
    run.loc[hit, "samples_s"] = run.loc[hit, "samples_s"].map(lambda samples: [s * factor for s in samples])
    return run


def test_one_size_stuck_in_a_slow_mode_passes_because_the_layer_median_did_not_move(policy, baseline):
    report = run_gate(_burst(make_results(CPU_B, seed=13)), baseline, policy)
    assert report.passed
    check = next(c for c in report.checks if c.kind == "relative" and c.subject.startswith("softmax N=256 "))
    assert check.change > 1.5 and "for the layer's median change over its" in check.reason


def test_a_slowdown_under_the_relative_threshold_passes(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=6, slowdown={"linear": 1.12}), baseline, policy)
    assert report.passed
    linear = [c for c in report.checks if c.kind == "relative" and c.key.model == "linear"]
    assert any("<= 25%" in c.reason for c in linear)


def test_a_slowdown_that_costs_less_than_the_floor_passes(policy, baseline):
    lenient = dataclasses.replace(policy, relative=SpeedRule(threshold=0.25, floor_s=1.0, alpha=0.01))
    report = run_gate(make_results(CPU_B, seed=5, slowdown={"linear": 1.3}), baseline, lenient)
    assert not _failed(report, "relative")
    assert any("floor 1 s" in c.reason for c in report.checks if c.subject.startswith("linear "))


def test_a_slowdown_without_enough_samples_to_be_significant_passes(policy, baseline):
    report = run_gate(make_results(CPU_B, seed=5, slowdown={"linear": 1.3}, n_samples=2), baseline, policy)
    assert not _failed(report, "relative")
    assert any("p=" in c.reason and ">= 0.01" in c.reason for c in report.checks if c.kind == "relative")


# ------------------------------------------------------------------------------------------- scaling and crossover

def test_a_linear_layer_that_turns_quadratic_fails_the_scaling_check_by_name(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)}), baseline, policy)
    failed = _failed(report, "scaling")
    assert [(c.key.model, c.metric) for c in failed] == [("linear", "time exponent")]
    check = failed[0]
    assert check.current > 1.6 and check.baseline == pytest.approx(1.0, abs=0.1) and check.threshold == 1.2
    assert "whole CI is above the bound 1.2" in check.reason
    assert check.subject == "linear b=2 d=64 h=4 float32 cpu forward" == check.key.label()


def test_a_layer_without_a_policy_entry_is_bounded_by_its_declared_complexity_class(policy, baseline):
    assert "linear" not in policy.models
    run = make_results(CPU_A, seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)})  # turned quadratic

    def linear_time_checks(declared: str | None) -> list[CheckResult]:
        relabelled = run.copy()
        relabelled.loc[relabelled["model"].eq("linear"), "complexity_time"] = declared
        report = run_gate(relabelled, baseline, policy)
        return [c for c in report.checks if c.kind == "scaling" and c.key.model == "linear"
                and c.metric == "time exponent"]

    [as_linear] = linear_time_checks("linear")
    assert (as_linear.threshold, as_linear.status) == (1.2, "fail")
    [as_quadratic] = linear_time_checks("quadratic")
    assert (as_quadratic.threshold, as_quadratic.status) == (3.0, "pass")
    [unbounded] = linear_time_checks(None)  # no class declared, no entry: no bound, and the gate says so
    assert unbounded.status == "skipped" and unbounded.reason.startswith("no bound")


def test_a_crossover_that_moves_two_grid_steps_later_fails_while_speeds_pass(policy, baseline):
    run = make_results(CPU_A, seed=8, time_coeffs={"softmax": (3e-5, 5e-8, 1e-9)})  # softmax got faster
    report = run_gate(run, baseline, policy)
    assert {c.kind for c in report.failures} == {"crossover"}
    check = report.failures[0]
    assert check.subject.startswith("fastformer vs softmax")
    series, variant, reference = check.key
    assert (series.model, variant, reference) == ("", "fastformer", "softmax")
    assert (check.baseline, check.current) == (2048, 8192)
    assert "past 2x the baseline's N=2048" in check.reason


def test_a_crossover_out_of_a_shorter_run_is_skipped_not_failed(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=9, seq_lens=(128, 256, 512, 1024)), baseline, policy)
    crossover = [c for c in report.checks if c.kind == "crossover"]
    assert [c.status for c in crossover] == ["skipped"] and "cannot tell" in crossover[0].reason


# ------------------------------------------------------------------------------------------- absolute time

def test_absolute_checks_are_skipped_with_the_reason_on_different_hardware(policy, baseline):
    report = run_gate(make_results(CPU_B, seed=2), baseline, policy)
    absolute = [c for c in report.checks if c.kind == "absolute"]
    assert [c.status for c in absolute] == ["skipped"]
    assert "Synthetic CPU A" in absolute[0].reason and "Synthetic CPU B" in absolute[0].reason
    assert report.passed


def test_a_slower_reference_layer_is_caught_by_the_absolute_check_on_the_same_hardware(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=11, slowdown={"sdpa": 2.0}), baseline, policy)
    assert {c.kind for c in report.failures} == {"absolute"}
    assert all(c.key.model == "sdpa" and c.subject.startswith("sdpa ") for c in report.failures)


# ------------------------------------------------------------------------------------------- coverage

def test_missing_and_crashed_configurations_are_reported(policy, baseline):
    run = make_results(CPU_A, seed=2)
    crashed = run["variant"].eq("fastformer") & run["seq_len"].eq(512)
    run.loc[crashed, "status"] = "error"
    run.loc[crashed, "samples_s"] = pd.Series([[]] * int(crashed.sum()), index=run.index[crashed])
    run = run[~(run["variant"].eq("performer") & run["seq_len"].eq(8192))]
    report = run_gate(run, baseline, policy)
    by_subject = {(c.kind, c.subject): c for c in report.checks}
    crash = by_subject[("relative", "fastformer N=512 b=2 d=64 h=4 float32 cpu forward")]
    assert crash.status == "fail" and "crashed" in crash.reason
    gone = by_subject[("relative", "performer N=8192 b=2 d=64 h=4 float32 cpu forward")]
    assert gone.status == "skipped" and gone.reason == "not in this run"


def test_a_run_sharing_no_configuration_with_the_baseline_is_an_error(policy, baseline):
    other = make_results(CPU_A, seed=2)
    other["d_model"] = 128
    with pytest.raises(GateError, match="none of the baseline's 35 configurations appear in this run"):
        run_gate(other, baseline, policy)


def test_a_baseline_made_against_another_reference_is_an_error(policy, baseline):
    with pytest.raises(GateError, match="relative to 'sdpa' but the policy's reference is 'softmax'"):
        run_gate(make_results(CPU_A, seed=2), baseline, dataclasses.replace(policy, reference="softmax"))


def test_configurations_the_baseline_lacks_are_noted_not_compared(policy, baseline):
    report = run_gate(make_results(CPU_A, seed=2, seq_lens=(128, 256, 512, 1024, 2048, 4096, 8192, 16384)),
                      baseline, policy)
    assert any("5 configuration(s) of this run are not in the baseline" in note for note in report.notes)
    assert not [c for c in report.checks if isinstance(c.key, ConfigKey) and c.key.seq_len == 16384]
