"""The regression gate stays quiet on run-to-run noise and fails on real regressions, naming them.

Runs are synthetic (tests/bench/gate_data.py): known cost curves, a machine factor of 0.8 or 1.2 for the
whole run (a shared CI runner), a few per cent of independent drift per configuration and per-sample
jitter with spikes.
"""

import dataclasses
import json
import re

import pandas as pd
import pytest

from bench.gate import (
    DEFAULT_POLICY_PATH,
    CheckResult,
    GateError,
    GateReport,
    SpeedRule,
    gate_main,
    load_baseline,
    load_policy,
    make_baseline,
    policy_from_dict,
    run_gate,
    save_baseline,
    update_baseline_main,
)
from bench.storage import environment_columns
from tests.bench.gate_data import MODELS, fingerprint, make_results, write_results

ENV_A = {"env-a": fingerprint("Synthetic CPU A")}
ENV_B = {"env-a": fingerprint("Synthetic CPU B")}


@pytest.fixture(scope="module")
def policy():
    return dataclasses.replace(load_policy(), n_boot=200)


@pytest.fixture(scope="module")
def baseline(policy):
    return make_baseline(make_results(seed=1), policy, ENV_A)


def _failed(report: GateReport, kind: str) -> list[CheckResult]:
    return [c for c in report.failures if c.kind == kind]


# ------------------------------------------------------------------------------------------- noise

@pytest.mark.parametrize(("machine", "seed"), [(0.8, 2), (1.2, 3), (1.2, 4)])
def test_unchanged_code_passes_every_check_despite_a_20_percent_machine_swing(policy, baseline, machine, seed):
    report = run_gate(make_results(seed=seed, machine=machine), baseline, policy, ENV_A)
    assert report.passed, report.render(show_passed=False)
    for kind in ("scaling", "crossover", "relative", "absolute"):
        assert any(c.kind == kind and c.status == "pass" for c in report.checks), kind
    assert not [c for c in report.checks if c.status == "skipped"]


def test_a_baseline_pooled_from_three_runs_keeps_every_sample_and_passes_a_noisy_run(policy):
    runs = pd.concat([make_results(seed=10 + k, machine=m, run_id=f"r{k}") for k, m in enumerate((1, 0.9, 1.1))])
    pooled = make_baseline(runs, policy, ENV_A)
    entry = pooled["configurations"]["linear N=1024 b=2 d=64 h=4 float32 cpu forward"]
    assert entry["runs"] == 3 and len(entry["samples_s"]) == 45 and len(entry["ratio_samples"]) == 45
    assert sorted(pooled["run_ids"]) == ["r0", "r1", "r2"]
    assert run_gate(make_results(seed=20, machine=1.2), pooled, policy, ENV_A).passed


# ------------------------------------------------------------------------------------------- relative speed

def test_thirty_percent_more_work_fails_the_relative_check_of_that_variant_only(policy, baseline):
    run = make_results(seed=5, machine=1.2, slowdown={"linear": 1.3})
    report = run_gate(run, baseline, policy, ENV_B)
    assert not report.passed
    failed = _failed(report, "relative")
    assert failed and all(c.subject.startswith("linear ") for c in failed)
    assert len(failed) >= 5  # of the 7 sizes; drift can hold one or two under the 25 % threshold
    assert not _failed(report, "scaling") and not _failed(report, "crossover")
    worst = max(failed, key=lambda c: c.change)
    assert worst.change > 0.25 and worst.current > worst.baseline
    assert "Mann-Whitney" in worst.reason and "> 25%" in worst.reason


def test_one_drifting_reference_measurement_does_not_fail_every_layer_at_its_shape(policy, baseline):
    run = make_results(seed=12)
    lucky = run["variant"].eq("sdpa") & run["seq_len"].eq(4096)
    run.loc[lucky, "samples_s"] = run.loc[lucky, "samples_s"].map(lambda samples: [s * 0.7 for s in samples])
    report = run_gate(run, baseline, policy, ENV_B)
    at_shape = [c for c in report.checks if c.kind == "relative" and " N=4096 " in c.subject]
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
    report = run_gate(_burst(make_results(seed=13)), baseline, policy, ENV_B)
    assert report.passed
    check = next(c for c in report.checks if c.kind == "relative" and c.subject.startswith("softmax N=256 "))
    assert check.change > 1.5 and "for the layer's median change over its" in check.reason


def test_a_contention_burst_in_one_of_two_runs_is_not_confirmed_and_passes(policy, baseline):
    everywhere = tuple(sorted(set(make_results(seed=13)["seq_len"])))
    burst = _burst(make_results(seed=13, run_id="first"), sizes=everywhere)
    alone = run_gate(burst, baseline, policy, ENV_B)
    assert {c.subject.split()[0] for c in alone.failures} == {"softmax"}
    twice = run_gate(pd.concat([burst, make_results(seed=14, run_id="second")]), baseline, policy, ENV_B)
    assert twice.passed
    check = next(c for c in twice.checks if c.kind == "relative" and c.subject.startswith("softmax N=256 "))
    assert check.reason.startswith("not confirmed: run 'second' alone does not show it: the layer's median")


def test_a_regression_seen_in_both_runs_is_confirmed(policy, baseline):
    runs = pd.concat([make_results(seed=15 + k, slowdown={"linear": 1.4}, run_id=f"run{k}") for k in range(2)])
    report = run_gate(runs, baseline, policy, ENV_B)
    assert {c.subject.split()[0] for c in report.failures} == {"linear"}


def test_a_layer_slower_in_both_runs_fails_even_where_one_run_alone_is_under_the_threshold(policy, baseline):
    first = make_results(seed=21, slowdown={"linear": 1.5}, run_id="run0")
    second = make_results(seed=22, slowdown={"linear": 1.5}, run_id="run1")
    lucky = second["variant"].eq("linear") & second["seq_len"].eq(second["seq_len"].max())
    second.loc[lucky, "samples_s"] = second.loc[lucky, "samples_s"].map(lambda xs: [x / 1.5 * 1.2 for x in xs])
    longest = f"linear N={int(second['seq_len'].max())} "
    alone = run_gate(second, baseline, policy, ENV_B)
    assert all(c.status == "pass" for c in alone.checks if c.kind == "relative" and c.subject.startswith(longest))
    report = run_gate(pd.concat([first, second]), baseline, policy, ENV_B)
    failed = {c.subject for c in report.failures if c.kind == "relative"}
    assert {s.split()[0] for s in failed} == {"linear"}
    assert any(s.startswith(longest) for s in failed)


def test_a_slowdown_under_the_relative_threshold_passes(policy, baseline):
    report = run_gate(make_results(seed=6, slowdown={"linear": 1.12}), baseline, policy, ENV_A)
    assert report.passed
    linear = [c for c in report.checks if c.kind == "relative" and c.subject.startswith("linear ")]
    assert any("<= 25%" in c.reason for c in linear)


def test_a_slowdown_that_costs_less_than_the_floor_passes(policy, baseline):
    lenient = dataclasses.replace(policy, relative=SpeedRule(threshold=0.25, floor_s=1.0, alpha=0.01))
    report = run_gate(make_results(seed=5, slowdown={"linear": 1.3}), baseline, lenient, ENV_B)
    assert not _failed(report, "relative")
    assert any("floor 1 s" in c.reason for c in report.checks if c.subject.startswith("linear "))


def test_a_slowdown_without_enough_samples_to_be_significant_passes(policy, baseline):
    report = run_gate(make_results(seed=5, slowdown={"linear": 1.3}, n_samples=2), baseline, policy, ENV_B)
    assert not _failed(report, "relative")
    assert any("p=" in c.reason and ">= 0.01" in c.reason for c in report.checks if c.kind == "relative")


def test_a_per_model_override_loosens_only_that_model(policy, baseline):
    data = {"models": {"linear": {"relative": {"threshold": 0.6}}}}
    loose = dataclasses.replace(policy, models=policy_from_dict(data).models)
    report = run_gate(make_results(seed=5, slowdown={"linear": 1.3}), baseline, loose, ENV_B)
    assert not _failed(report, "relative")
    assert loose.rule_for("linear", "linear").relative.threshold == 0.6
    assert loose.rule_for("fastformer", "fastformer").relative.threshold == 0.25


# ------------------------------------------------------------------------------------------- scaling and crossover

def test_a_linear_layer_that_turns_quadratic_fails_the_scaling_check_by_name(policy, baseline):
    run = make_results(seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)})
    report = run_gate(run, baseline, policy, ENV_A)
    failed = _failed(report, "scaling")
    assert [(c.subject.split()[0], c.metric) for c in failed] == [("linear", "time exponent")]
    check = failed[0]
    assert check.current > 1.6 and check.baseline == pytest.approx(1.0, abs=0.1) and check.threshold == 1.2
    assert "whole CI is above the bound 1.2" in check.reason
    assert "linear b=2 d=64 h=4" in report.render()


def test_a_crossover_that_moves_two_grid_steps_later_fails_while_speeds_pass(policy, baseline):
    run = make_results(seed=8, time_coeffs={"softmax": (3e-5, 5e-8, 1e-9)})  # softmax got faster
    report = run_gate(run, baseline, policy, ENV_A)
    assert {c.kind for c in report.failures} == {"crossover"}
    check = report.failures[0]
    assert check.subject.startswith("fastformer vs softmax")
    assert (check.baseline, check.current) == (2048, 8192)
    assert "past 2x the baseline's N=2048" in check.reason


def test_a_crossover_out_of_a_shorter_run_is_skipped_not_failed(policy, baseline):
    run = make_results(seed=9, seq_lens=(128, 256, 512, 1024))
    report = run_gate(run, baseline, policy, ENV_A)
    crossover = [c for c in report.checks if c.kind == "crossover"]
    assert [c.status for c in crossover] == ["skipped"] and "cannot tell" in crossover[0].reason


# ------------------------------------------------------------------------------------------- absolute time

def test_absolute_checks_are_skipped_with_the_reason_on_different_hardware(policy, baseline):
    report = run_gate(make_results(seed=2), baseline, policy, ENV_B)
    absolute = [c for c in report.checks if c.kind == "absolute"]
    assert [c.status for c in absolute] == ["skipped"]
    assert "Synthetic CPU A" in absolute[0].reason and "Synthetic CPU B" in absolute[0].reason
    assert report.passed


def test_hardware_comes_from_the_env_columns_when_no_fingerprints_are_given(policy):
    def with_env(df, cpu):
        env = environment_columns(fingerprint(cpu))
        return df.assign(**{name: [value] * len(df) for name, value in env.items()})

    base = make_baseline(with_env(make_results(seed=1), "Synthetic CPU A"), policy)
    assert base["hardware_key"] == "cpu:Synthetic CPU A x2"
    same = run_gate(with_env(make_results(seed=2), "Synthetic CPU A"), base, policy)
    assert any(c.kind == "absolute" and c.status == "pass" for c in same.checks)
    unknown = run_gate(make_results(seed=2), base, policy)
    skipped = [c for c in unknown.checks if c.kind == "absolute"]
    assert [c.status for c in skipped] == ["skipped"] and "hardware is unknown" in skipped[0].reason


def test_a_slower_reference_layer_is_caught_by_the_absolute_check_on_the_same_hardware(policy, baseline):
    report = run_gate(make_results(seed=11, slowdown={"sdpa": 2.0}), baseline, policy, ENV_A)
    assert {c.kind for c in report.failures} == {"absolute"}
    assert all(c.subject.startswith("sdpa ") for c in report.failures)


# ------------------------------------------------------------------------------------------- coverage

def test_missing_and_crashed_configurations_are_reported(policy, baseline):
    run = make_results(seed=2)
    crashed = run["variant"].eq("fastformer") & run["seq_len"].eq(512)
    run.loc[crashed, "status"] = "error"
    run.loc[crashed, "samples_s"] = pd.Series([[]] * int(crashed.sum()), index=run.index[crashed])
    run = run[~(run["variant"].eq("performer") & run["seq_len"].eq(8192))]
    report = run_gate(run, baseline, policy, ENV_A)
    by_subject = {(c.kind, c.subject): c for c in report.checks}
    crash = by_subject[("relative", "fastformer N=512 b=2 d=64 h=4 float32 cpu forward")]
    assert crash.status == "fail" and "crashed" in crash.reason
    gone = by_subject[("relative", "performer N=8192 b=2 d=64 h=4 float32 cpu forward")]
    assert gone.status == "skipped" and gone.reason == "not in this run"


def test_a_run_sharing_no_configuration_with_the_baseline_is_an_error(policy, baseline):
    other = make_results(seed=2)
    other["d_model"] = 128
    with pytest.raises(GateError, match="none of the baseline's 35 configurations appear in this run"):
        run_gate(other, baseline, policy, ENV_A)


def test_a_baseline_made_against_another_reference_is_an_error(policy, baseline):
    with pytest.raises(GateError, match="relative to 'sdpa' but the policy's reference is 'softmax'"):
        run_gate(make_results(seed=2), baseline, dataclasses.replace(policy, reference="softmax"), ENV_A)


# ------------------------------------------------------------------------------------------- baseline files

def test_baseline_round_trips_through_plain_json(policy, baseline, tmp_path):
    path = tmp_path / "ci" / "baseline.json"
    save_baseline(path, baseline)
    assert json.loads(path.read_text()) == baseline
    assert load_baseline(path) == baseline
    assert run_gate(make_results(seed=2), load_baseline(path), policy, ENV_A).passed


@pytest.mark.parametrize(("content", "message"), [
    (None, "no baseline at .*create one from a run with `python run_bench.py gate --update-baseline"),
    ("{not json", "is not valid JSON"),
    ('{"kind": "something-else"}', "is not an attnbench gate baseline"),
    ('[1, 2]', "is not an attnbench gate baseline"),
    ('{"kind": "attnbench-gate-baseline", "schema": 99}', "has schema 99, but this version reads schema 1"),
    ('{"kind": "attnbench-gate-baseline", "schema": 1, "scaling": {}}', "lacks field\\(s\\) created, reference"),
])
def test_an_unusable_baseline_file_gives_one_clear_error(tmp_path, content, message):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(GateError, match=message):
        load_baseline(path)


def test_a_baseline_with_corrupt_samples_is_rejected(baseline, tmp_path):
    broken = json.loads(json.dumps(baseline))
    label = next(iter(broken["configurations"]))
    broken["configurations"][label]["samples_s"] = ["fast"]
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(GateError, match=f"configuration '{label}' has an invalid samples_s"):
        load_baseline(path)


# ------------------------------------------------------------------------------------------- policy files

def test_the_default_policy_bounds_linear_models_and_checks_the_fastformer_crossover():
    policy = load_policy()
    assert DEFAULT_POLICY_PATH.name == "gate_policy.toml"
    for model in ("fastformer", "linear", "performer", "linformer"):
        rule = policy.rule_for(model, model)
        assert rule.time_exponent_max == 1.2 and rule.memory_exponent_max == 1.2
    assert policy.rule_for("softmax", "softmax").time_exponent_max > 2
    assert policy.relative == SpeedRule(threshold=0.25, floor_s=2e-5, alpha=0.01)
    assert [(r.variant, r.reference) for r in policy.crossovers] == [("fastformer", "softmax")]


@pytest.mark.parametrize(("data", "message"), [
    ({"relativ": {}}, "unknown key\\(s\\) relativ in the top level"),
    ({"relative": {"threshold": "25%"}}, "relative.threshold must be a number"),
    ({"models": {"linear": {"time_exponent": 1.2}}}, "unknown key\\(s\\) time_exponent in \\[models.linear\\]"),
    ({"crossovers": [{"variant": "fastformer", "reference": "softmax"}]}, "needs max_factor and/or max_seq_len"),
    ({"schema": 2}, "schema 2 is not supported"),
])
def test_a_policy_typo_is_an_error_naming_the_key(data, message):
    with pytest.raises(GateError, match=message):
        policy_from_dict(data, "test.toml")


def test_a_json_policy_file_is_accepted_and_a_missing_one_is_an_error(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"reference": "softmax", "models": {"linear": {"time_exponent_max": 1.1}}}))
    assert load_policy(path).reference == "softmax"
    with pytest.raises(GateError, match="no gate policy at"):
        load_policy(tmp_path / "absent.toml")


# ------------------------------------------------------------------------------------------- CLI entry points

def test_update_baseline_then_gate_exit_codes_and_table(tmp_path, capsys):
    fp = fingerprint("Synthetic CPU A")
    first = write_results(tmp_path / "base.jsonl", fp, seed=1)
    baseline = tmp_path / "baseline.json"
    assert update_baseline_main([first], baseline) == 0
    assert "35 configuration(s)" in capsys.readouterr().out
    assert load_baseline(baseline)["hardware_key"] == "cpu:Synthetic CPU A x2"

    same = write_results(tmp_path / "same.jsonl", fp, seed=2, machine=1.2)
    assert gate_main([same], baseline) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["STATUS", "CHECK", "SUBJECT"] and "GATE PASSED" in out

    slower = write_results(tmp_path / "slow.jsonl", fp, seed=5, slowdown={"linear": 1.3})
    assert gate_main([slower], baseline) == 1
    out = capsys.readouterr().out
    assert out.startswith("STATUS") and "GATE FAILED" in out
    assert re.search(r"^FAIL +relative +linear N=1024 .* ratio to sdpa ", out, re.MULTILINE)

    (tmp_path / "bad.json").write_text("{")
    assert gate_main([same], tmp_path / "bad.json") == 2
    assert "gate: error: baseline" in capsys.readouterr().err
    assert update_baseline_main([tmp_path / "missing.jsonl"], baseline) == 2


def test_every_model_of_the_synthetic_runs_is_gated(policy, baseline):
    report = run_gate(make_results(seed=2), baseline, policy, ENV_A)
    subjects = {c.subject.split()[0] for c in report.checks if c.kind == "relative"}
    assert subjects == set(MODELS) - {"sdpa"}
