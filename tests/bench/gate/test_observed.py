"""The run as the gate sees it: configurations keyed by ConfigKey with one replicate per (run, pass), the
latest row of a repeated pass used, and the hardware taken from the table's `hardware` column only."""

import dataclasses

import pandas as pd
import pytest

from bench.config import BenchConfig
from bench.gate import GateError, make_baseline, run_gate
from bench.gate.observed import prepare
from bench.results.identity import ConfigKey
from tests.fixtures.gate_data import CPU_A, CPU_B, make_results, make_runs

LINEAR_1024 = ConfigKey.from_dict(BenchConfig(model="linear", batch=2, seq_len=1024, d_model=64, n_heads=4).to_dict())


def _absolute(report) -> list:
    return [c for c in report.checks if c.kind == "absolute"]


def test_hardware_comes_from_the_tables_hardware_column(policy):
    base = make_baseline(make_results(CPU_A, seed=1), policy)
    assert base.hardware_key == "cpu:Synthetic CPU A x2"
    same = run_gate(make_results(CPU_A, seed=2), base, policy)
    assert any(c.status == "pass" for c in _absolute(same))
    # The env_* columns still say CPU A; only the hardware column counts.
    moved = make_results(CPU_A, seed=2).assign(hardware="cpu:Synthetic CPU B x2")
    assert moved["env_cpu_model"].eq("Synthetic CPU A").all()
    [skipped] = _absolute(run_gate(moved, base, policy))
    assert skipped.status == "skipped" and "hardware differs" in skipped.reason
    [unknown] = _absolute(run_gate(make_results(seed=2), base, policy))
    assert unknown.status == "skipped"
    assert "hardware unknown (no environment fingerprint for its rows)" in unknown.reason


def test_a_run_on_two_machines_has_no_hardware_key(policy):
    mixed = prepare(pd.concat([make_results(CPU_A, seed=1, run_id="a"), make_results(CPU_B, seed=2, run_id="b")]),
                    policy.reference, "the run")
    assert mixed.hardware_key is None
    assert mixed.hardware_note == "mixed hardware (cpu:Synthetic CPU A x2; cpu:Synthetic CPU B x2)"
    base = make_baseline(make_results(seed=1), policy)
    assert base.hardware_key is None
    [skipped] = _absolute(run_gate(make_results(CPU_A, seed=2), base, policy))
    assert "the baseline has no single hardware key" in skipped.reason


def test_each_run_and_pass_is_one_replicate_and_its_ratio_divides_by_the_same_pass_reference(policy):
    runs = make_runs(CPU_A, seeds=(0, 1))
    observed = prepare(runs, policy.reference, "the run")
    assert len(observed.configs) == 35
    linear = observed.configs[LINEAR_1024]
    assert linear.runs == 2 and len(linear.pass_medians) == 6 and len(linear.ratio_passes) == 6
    assert [(r.run, r.pass_index) for r in linear.replicates] == [(f"run{k}", p) for k in (0, 1) for p in range(3)]
    sdpa = observed.configs[dataclasses.replace(LINEAR_1024, model="sdpa")]
    assert sdpa.ratio is None  # the reference
    assert linear.ratio_passes[4] == pytest.approx(linear.pass_medians[4] / sdpa.pass_medians[4])
    probe = runs.loc[runs["run_id"].eq("run1"), "probe_flops_per_s"].iloc[0]
    assert linear.normalized_passes[4] == pytest.approx(linear.pass_medians[4] * probe)


def test_the_latest_row_of_a_pass_repeated_in_one_run_is_used(policy):
    run = make_results(CPU_A, seed=1)
    again = run[run["model"].eq("linear") & run["seq_len"].eq(1024) & run["pass"].eq(0)].assign(
        timestamp=2.0, samples_s=[[1.0, 1.0, 1.0]])
    observed = prepare(pd.concat([again, run]), policy.reference, "the run")
    medians = observed.configs[LINEAR_1024].pass_medians
    assert len(medians) == 3 and medians.count(1.0) == 1
    assert observed.notes == ["the run: 1 configuration(s) appear more than once in one pass; the latest is used"]


def test_a_table_without_the_hardware_column_or_rows_is_an_error(policy):
    with pytest.raises(GateError, match="the run lacks column\\(s\\) hardware; load it with "
                                        "bench.results.table.load_results"):
        prepare(make_results(CPU_A, seed=1).drop(columns="hardware"), policy.reference, "the run")
    with pytest.raises(GateError, match="the run holds no results"):
        prepare(make_results(CPU_A, seed=1).iloc[:0], policy.reference, "the run")
