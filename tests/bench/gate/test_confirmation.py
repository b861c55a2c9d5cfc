"""With two runs in one table (the sweep run twice in a CI job), a pooled failure stands only if every run
shows it on its own: a contention burst in one run passes, a regression in the code fails in both."""

import pandas as pd

from bench.gate import run_gate
from tests.fixtures.gate_data import CPU_B, make_results

SIZES = (128, 256, 512, 1024, 2048, 4096, 8192)


def _burst(run: pd.DataFrame, factor: float = 3.0) -> pd.DataFrame:
    """`run` with softmax slowed down at every size by contention lasting the whole run."""
    hit = run["variant"].eq("softmax") & run["seq_len"].isin(SIZES)
    run = run.copy()
    run.loc[hit, "samples_s"] = run.loc[hit, "samples_s"].map(lambda samples: [s * factor for s in samples])
    return run


def test_a_contention_burst_in_one_of_two_runs_is_not_confirmed_and_passes(policy, baseline):
    burst = _burst(make_results(CPU_B, seed=13, run_id="first"))
    alone = run_gate(burst, baseline, policy)
    assert {c.key.model for c in alone.failures} == {"softmax"}
    twice = run_gate(pd.concat([burst, make_results(CPU_B, seed=14, run_id="second")]), baseline, policy)
    assert twice.passed
    check = next(c for c in twice.checks if c.kind == "relative" and c.subject.startswith("softmax N=256 "))
    assert check.reason.startswith("not confirmed: run 'second' alone does not show it: the layer's median")


def test_a_regression_seen_in_both_runs_is_confirmed(policy, baseline):
    runs = pd.concat([make_results(CPU_B, seed=15 + k, slowdown={"linear": 1.4}, run_id=f"run{k}")
                      for k in range(2)])
    report = run_gate(runs, baseline, policy)
    assert {c.key.model for c in report.failures} == {"linear"}


def test_a_layer_slower_in_both_runs_fails_even_where_one_run_alone_is_under_the_threshold(policy, baseline):
    first = make_results(CPU_B, seed=21, slowdown={"linear": 1.5}, run_id="run0")
    second = make_results(CPU_B, seed=22, slowdown={"linear": 1.5}, run_id="run1")
    longest = int(second["seq_len"].max())
    lucky = second["variant"].eq("linear") & second["seq_len"].eq(longest)
    second.loc[lucky, "samples_s"] = second.loc[lucky, "samples_s"].map(lambda xs: [x / 1.5 * 1.2 for x in xs])

    def at_longest(check) -> bool:
        return check.kind == "relative" and check.key.model == "linear" and check.key.seq_len == longest

    alone = run_gate(second, baseline, policy)
    assert all(c.status == "pass" for c in alone.checks if at_longest(c))
    report = run_gate(pd.concat([first, second]), baseline, policy)
    failed = [c for c in report.failures if c.kind == "relative"]
    assert {c.key.model for c in failed} == {"linear"}
    assert any(at_longest(c) for c in failed)


def test_a_scaling_failure_that_one_run_alone_does_not_show_passes(policy, baseline):
    """Pooled, the two runs are passes of one configuration: their disagreement widens the interval."""
    quadratic = make_results(CPU_B, seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)}, run_id="first")
    assert [c.key.model for c in run_gate(quadratic, baseline, policy).failures if c.kind == "scaling"] == ["linear"]
    report = run_gate(pd.concat([quadratic, make_results(CPU_B, seed=8, run_id="second")]), baseline, policy)
    check = next(c for c in report.checks if c.kind == "scaling" and c.key.model == "linear"
                 and c.metric == "time exponent")
    assert check.status == "pass" and "the CI reaches below it" in check.reason
