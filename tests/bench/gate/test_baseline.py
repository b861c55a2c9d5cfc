"""The baseline is plain JSON (schema 3) whose entries carry structured keys: ConfigKey for each
configuration, SeriesKey for each scaling series and crossover. It round-trips exactly, and every
unusable file gives one clear error saying how to recreate it."""

import json

import pandas as pd
import pytest

from bench.config import BenchConfig
from bench.gate import GateError, load_baseline, make_baseline, run_gate, save_baseline
from bench.results.identity import ConfigKey, SeriesKey
from tests.fixtures.gate_data import CPU_A, make_results, make_runs

LINEAR_1024 = ConfigKey.from_dict(BenchConfig(model="linear", batch=2, seq_len=1024, d_model=64, n_heads=4).to_dict())


def test_a_baseline_from_three_runs_keeps_every_pass_median_and_passes_a_noisy_run(policy):
    runs = pd.concat([make_results(CPU_A, seed=10 + k, machine=m, run_id=f"r{k}")
                      for k, m in enumerate((1, 0.9, 1.1))])
    pooled = make_baseline(runs, policy)
    entry = pooled.configurations[LINEAR_1024]
    assert entry["runs"] == 3
    assert len(entry["pass_medians_s"]) == len(entry["ratio_passes"]) == len(entry["normalized_passes"]) == 9
    assert entry["probe_flops_per_s"] > 0 and entry["duration_s"] > 0
    assert sorted(pooled.run_ids) == ["r0", "r1", "r2"]
    assert run_gate(make_runs(CPU_A, seeds=(20, 21), machine=1.2), pooled, policy).passed


def test_baseline_round_trips_through_plain_json(policy, baseline, tmp_path):
    path = tmp_path / "ci" / "baseline.json"
    save_baseline(path, baseline)
    assert json.loads(path.read_text()) == baseline.to_json()
    assert load_baseline(path) == baseline
    assert run_gate(make_runs(CPU_A, seeds=(4, 5)), load_baseline(path), policy).passed


def test_the_file_lists_entries_with_structured_keys(baseline, tmp_path):
    path = tmp_path / "baseline.json"
    save_baseline(path, baseline)
    data = json.loads(path.read_text())
    assert (data["kind"], data["schema"], data["hardware_key"]) == ("attnbench-gate-baseline", 3,
                                                                    "cpu:Synthetic CPU A x2")
    [entry] = [e for e in data["configurations"] if ConfigKey.from_dict(e["key"]) == LINEAR_1024]
    assert entry["key"] == LINEAR_1024.to_dict() and entry["key"]["options"] == {}
    assert (entry["variant"], entry["model"], entry["seq_len"]) == ("linear", "linear", 1024)
    series = [SeriesKey.from_dict(e["series"]) for e in data["scaling"]]
    assert {key.model for key in series} == {"sdpa", "softmax", "fastformer", "linear", "performer"}
    assert all(key.fixed == (("batch", 2), ("d_model", 64), ("n_heads", 4)) for key in series)
    sdpa = next(e for e in data["scaling"] if e["model"] == "sdpa")
    assert sdpa["complexity"] == {"time": "quadratic", "memory": None}
    assert set(sdpa["time"]) == {"slope", "ci_low", "ci_high", "n_points", "x_min", "x_max", "note"}
    [crossover] = data["crossovers"]
    assert SeriesKey.from_dict(crossover["series"]).model == ""
    assert (crossover["variant"], crossover["reference"], crossover["faster_from"]) == ("fastformer", "softmax", 2048)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no baseline at .*create one from a run with `python run_bench.py gate --update-baseline"),
    ("{not json", "is not valid JSON"),
    ('{"kind": "something-else"}', "is not an attnbench gate baseline"),
    ('[1, 2]', "is not an attnbench gate baseline"),
    ('{"kind": "attnbench-gate-baseline", "schema": 99}', "has schema 99, but this version reads schema 3"),
    ('{"kind": "attnbench-gate-baseline", "schema": 3, "scaling": []}', "lacks field\\(s\\) created, reference"),
])
def test_an_unusable_baseline_file_gives_one_clear_error(tmp_path, content, message):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(GateError, match=message):
        load_baseline(path)


@pytest.mark.parametrize("schema", [1, 2])
def test_an_older_baseline_must_be_recreated(baseline, tmp_path, schema):
    """Schema 1 keyed entries by labels; schema 2 pooled autocorrelated samples instead of pass medians."""
    old = {**baseline.to_json(), "schema": schema}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(old))
    with pytest.raises(GateError, match=f"has schema {schema}, but this version reads schema 3; recreate it with "
                                        "`python run_bench.py gate --update-baseline --baseline"):
        load_baseline(path)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ratio_passes", None, "has an invalid ratio_passes"), ("ratio", 0, "has an invalid ratio beside its ratio_passes"),
    ("median_s", None, "has an invalid median_s beside its pass_medians_s")])
def test_a_baseline_whose_medians_and_replicates_disagree_is_rejected(baseline, tmp_path, field, value, message):
    broken = baseline.to_json()
    entry = next(e for e in broken["configurations"] if e["ratio"] is not None)
    entry[field] = value
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(GateError, match=message):
        load_baseline(path)


def test_a_baseline_with_corrupt_samples_is_rejected(baseline, tmp_path):
    broken = baseline.to_json()
    broken["configurations"][0]["pass_medians_s"] = ["fast"]
    label = ConfigKey.from_dict(broken["configurations"][0]["key"]).label()
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(GateError, match=f"configuration '{label}' has an invalid pass_medians_s"):
        load_baseline(path)


@pytest.mark.parametrize(("section", "change", "message"), [
    ("configurations", {"key": {"model": "linear"}}, "configurations\\[0\\] has an invalid key"),
    ("scaling", {"series": "linear b=2"}, "scaling\\[0\\] has an invalid series"),
    ("crossovers", {"reference": None, "series": None}, "crossovers\\[0\\] has an invalid series"),
])
def test_a_baseline_entry_whose_key_cannot_be_rebuilt_is_rejected(baseline, tmp_path, section, change, message):
    broken = baseline.to_json()
    broken[section][0] = {**broken[section][0], **change}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(GateError, match=message):
        load_baseline(path)


def test_a_baseline_entry_missing_a_field_is_rejected(baseline, tmp_path):
    broken = baseline.to_json()
    del broken["scaling"][0]["complexity"]
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(GateError, match="scaling\\[0\\] lacks one of series, variant, model, complexity"):
        load_baseline(path)


def test_a_run_with_nothing_ok_cannot_be_a_baseline(policy):
    run = make_results(CPU_A, seed=1).assign(status="oom")
    with pytest.raises(GateError, match="no successful"):
        make_baseline(run, policy)
