"""With two runs in one table (the sweep run twice in a CI job), a pooled failure stands only if every run
shows it on its own: a contention burst in one run passes, a regression in the code fails in both."""

import pandas as pd

from bench.gate import run_gate
from tests.fixtures.gate_data import CPU_A, CPU_B, make_results


def test_a_contention_burst_in_one_of_two_runs_is_not_confirmed_and_passes(policy, baseline):
    """Softmax 3x slower all through the first run and 15 % in the second: pooled, all six pass medians
    are above the baseline's and the median change is large, but the second run alone shows no regression."""
    burst = make_results(CPU_B, seed=13, run_id="first", slowdown={"softmax": 3.0})
    alone = run_gate(burst, baseline, policy)
    assert {c.key.model for c in alone.failures} == {"softmax"}
    twice = run_gate(pd.concat([burst, make_results(CPU_B, seed=14, run_id="second", slowdown={"softmax": 1.15})]),
                     baseline, policy)
    assert twice.passed
    softmax = [c for c in twice.checks if c.kind == "relative" and c.key.model == "softmax"]
    assert any(c.reason.startswith("not confirmed: run 'second' alone does not show it (not a regression: ")
               for c in softmax)


def test_a_regression_seen_in_both_runs_is_confirmed(policy, baseline):
    runs = pd.concat([make_results(CPU_B, seed=15 + k, slowdown={"linear": 1.4}, run_id=f"run{k}")
                      for k in range(2)])
    report = run_gate(runs, baseline, policy)
    assert {c.key.model for c in report.failures} == {"linear"}


def test_a_long_size_fails_only_where_each_run_alone_shows_the_change(policy, baseline):
    """The longest size is 50 % slower in the first run and only 20 % in the second: pooled it looks like a
    regression, but one run alone stays under the 25 % threshold there, so that size passes."""
    first = make_results(CPU_A, seed=21, size_slowdown={("linear", 8192): 1.5, ("linear", 4096): 1.5}, run_id="run0")
    second = make_results(CPU_A, seed=22, size_slowdown={("linear", 8192): 1.2, ("linear", 4096): 1.5}, run_id="run1")
    report = run_gate(pd.concat([first, second]), baseline, policy)
    by_size = {c.key.seq_len: c for c in report.checks if c.kind == "relative" and c.key.model == "linear"}
    assert by_size[4096].status == "fail"
    assert by_size[8192].status == "pass" and by_size[8192].reason.startswith("not confirmed: run 'run1' alone")


def test_a_scaling_failure_that_one_run_alone_does_not_show_passes(policy, baseline):
    """Pooled, the two runs are passes of one configuration: their disagreement widens the interval."""
    quadratic = make_results(CPU_B, seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)}, run_id="first")
    assert [c.key.model for c in run_gate(quadratic, baseline, policy).failures if c.kind == "scaling"] == ["linear"]
    report = run_gate(pd.concat([quadratic, make_results(CPU_B, seed=8, run_id="second")]), baseline, policy)
    check = next(c for c in report.checks if c.kind == "scaling" and c.key.model == "linear"
                 and c.metric == "time exponent")
    assert check.status == "pass" and "the CI reaches below it" in check.reason


def test_a_check_one_run_alone_cannot_make_does_not_overturn_a_failure(policy, baseline):
    """sdpa timed out at N=8192 in one run only: that run has no ratio there, which is no evidence."""
    slow = {("softmax", 4096): 2.0, ("softmax", 8192): 2.0}
    first = make_results(CPU_A, seed=31, run_id="A", size_slowdown=slow, status={("sdpa", 8192): "timeout"})
    second = make_results(CPU_A, seed=32, run_id="B", size_slowdown=slow, passes=5)  # enough to test alone
    report = run_gate(pd.concat([first, second]), baseline, policy)
    [at_8192] = [c for c in report.checks
                 if c.kind == "relative" and c.key.model == "softmax" and c.key.seq_len == 8192]
    assert at_8192.status == "fail"
