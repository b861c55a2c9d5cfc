"""Scaling checks: an exponent fails above its bound with its whole interval, or when the interval of its
rise over the baseline's exponent lies wholly above max_increase; crossovers fail when they move too far.
Series are matched with the baseline's on other hardware too: an exponent does not depend on speed."""

import pytest

from bench.gate import CheckResult, run_gate
from tests.fixtures.gate_data import CPU_A, CPU_B, make_runs

QUADRATIC_LINEAR = {"linear": (4e-5, 3e-6, 4e-9)}
BENT_LINEAR = {"linear": (4e-5, 3e-6, 5e-10)}  # exponent about 1.01 -> 1.29 over the fitted range


def _time_exponent(report, model: str) -> CheckResult:
    [check] = [c for c in report.checks if c.kind == "scaling" and c.key.model == model and c.metric == "time exponent"]
    return check


def test_a_linear_layer_that_turns_quadratic_fails_the_scaling_check_by_name(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(7, 8), time_coeffs=QUADRATIC_LINEAR), baseline, policy)
    failed = [c for c in report.failures if c.kind == "scaling"]
    assert [(c.key.model, c.metric) for c in failed] == [("linear", "time exponent")]
    check = failed[0]
    assert check.current > 1.6 and check.baseline == pytest.approx(1.0, abs=0.1) and check.threshold == 1.2
    assert "whole CI is above the bound 1.2" in check.reason and "wholly above +0.1" in check.reason
    assert check.subject == "linear b=2 d=64 h=4 float32 cpu forward" == check.key.label()


def test_an_exponent_rise_under_the_bound_fails_when_its_whole_interval_exceeds_max_increase(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(7, 8), time_coeffs=BENT_LINEAR), baseline, policy)
    check = _time_exponent(report, "linear")
    assert check.status == "fail" and check.change > 0.2
    assert "rise over the baseline's 1.0" in check.reason and "wholly above +0.1" in check.reason
    assert "whole CI is above the bound" not in check.reason  # the bound alone would have passed it


def test_a_small_exponent_rise_inside_the_noise_passes(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(7, 8), time_coeffs={"linear": (4e-5, 3e-6, 1e-10)}), baseline, policy)
    check = _time_exponent(report, "linear")
    assert check.status == "pass" and "not wholly above +0.1" in check.reason


def test_series_on_another_device_are_compared_with_the_baselines(policy, baseline):
    run = make_runs(CPU_B, seeds=(7, 8), time_coeffs=BENT_LINEAR).assign(device_name="Another device")
    check = _time_exponent(run_gate(run, baseline, policy), "linear")
    assert check.key.hardware == "Another device" and check.status == "fail"
    assert check.baseline == pytest.approx(1.0, abs=0.1)  # the baseline's series, found on the other device


def test_a_layer_without_a_policy_entry_is_bounded_by_its_declared_complexity_class(policy, baseline):
    assert "linear" not in policy.models
    run = make_runs(CPU_A, seeds=(7, 8), time_coeffs=QUADRATIC_LINEAR)

    def bound_of(declared: str | None) -> CheckResult:
        relabelled = run.copy()
        relabelled.loc[relabelled["model"].eq("linear"), "complexity_time"] = declared
        return _time_exponent(run_gate(relabelled, baseline, policy), "linear")

    assert bound_of("linear").threshold == 1.2
    assert bound_of("quadratic").threshold == 3.0
    unbounded = bound_of(None)  # no class and no entry: only the rise over the baseline is judged
    assert unbounded.threshold is None and "whole CI is above the bound" not in unbounded.reason


def test_a_crossover_that_moves_two_grid_steps_later_fails_while_speeds_pass(policy, baseline):
    run = make_runs(CPU_A, seeds=(8, 9), time_coeffs={"softmax": (3e-5, 5e-8, 1e-9)})  # softmax got faster
    report = run_gate(run, baseline, policy)
    [check] = [c for c in report.failures if c.kind == "crossover"]
    assert check.subject.startswith("fastformer vs softmax")
    series, variant, reference = check.key
    assert (series.model, variant, reference) == ("", "fastformer", "softmax")
    assert (check.baseline, check.current) == (2048, 8192)
    assert "past 2x the baseline's N=2048" in check.reason


def test_a_crossover_out_of_a_shorter_run_is_skipped_not_failed(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(9, 10), seq_lens=(128, 256, 512, 1024)), baseline, policy)
    crossover = [c for c in report.checks if c.kind == "crossover"]
    assert [c.status for c in crossover] == ["skipped"] and "cannot tell" in crossover[0].reason
