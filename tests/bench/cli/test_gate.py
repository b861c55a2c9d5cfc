"""`run_bench.py gate` (bench.cli.gate.run): exit 0 on a pass, 1 on a regression, 2 on bad input, and
--update-baseline writes the baseline from results files."""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET

import pytest

from bench.cli.gate import run
from bench.gate import load_baseline
from bench.results.store import ResultStore
from tests.bench.cli.conftest import cli
from tests.fixtures.gate_data import CPU_A, write_results
from tests.fixtures.synthetic import Law, sweep


def _args(results, baseline, *, policy=None, update_baseline=False, fmt="text") -> argparse.Namespace:
    return argparse.Namespace(results=[str(p) for p in results], baseline=str(baseline), policy=policy,
                              update_baseline=update_baseline, format=fmt)


@pytest.fixture
def made(tmp_path, capsys):
    """A baseline written from three result files, and its path."""
    runs = [write_results(tmp_path / f"base{k}.jsonl", CPU_A, seed=k, run_id=f"base{k}") for k in (1, 2, 3)]
    baseline = tmp_path / "baseline.json"
    assert run(_args(runs, baseline, update_baseline=True)) == 0
    assert capsys.readouterr().out == (
        f"wrote baseline {baseline}: 35 configuration(s) (28 with a ratio to sdpa), 5 scaling series, "
        f"1 crossover(s), hardware cpu:Synthetic CPU A x2\n")
    return baseline


def test_update_baseline_then_gate_exit_codes_and_report(tmp_path, capsys, made):
    assert load_baseline(made).hardware_key == "cpu:Synthetic CPU A x2"
    same = [write_results(tmp_path / f"same{k}.jsonl", CPU_A, seed=10 + k, machine=1.2, run_id=f"s{k}")
            for k in (0, 1)]
    assert run(_args(same, made)) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("GATE PASSED")

    slower = [write_results(tmp_path / f"slow{k}.jsonl", CPU_A, seed=5 + k, slowdown={"linear": 1.4}, run_id=f"w{k}")
              for k in (0, 1)]
    assert run(_args(slower, made)) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and out.splitlines()[-1].startswith("GATE FAILED")
    assert re.search(r"^FAIL +relative +linear N=\d+ .*, ratio to sdpa", out, re.MULTILINE)

    assert run(_args(slower, made, fmt="json")) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False
    assert run(_args(slower, made, fmt="junit")) == 1
    assert int(ET.fromstring(capsys.readouterr().out).find("testsuite").get("failures")) >= 1


def test_a_typo_in_a_policy_model_name_is_an_error_naming_it_and_the_valid_names(tmp_path, capsys, made):
    policy = tmp_path / "policy.toml"
    policy.write_text("schema = 1\n[models.fastformr]\ntime_exponent_max = 1.2\n")
    results = tmp_path / "base1.jsonl"
    assert run(_args([results], made, policy=str(policy))) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "unknown model 'fastformr' in [models.fastformr] (did you mean 'fastformer'?)" in err
    assert "valid names: " in err and "linformer" in err  # registered models count even if not in the run
    policy.write_text("schema = 1\n[models.\"linear[chunk_size=64]\"]\ntime_exponent_max = 1.2\n")
    assert run(_args([results], made, policy=str(policy))) == 0  # a variant of a known model is fine


def test_bad_input_exits_2_with_one_line_on_stderr(tmp_path, capsys):
    results = write_results(tmp_path / "base.jsonl", CPU_A, seed=1)
    (tmp_path / "bad.json").write_text("{")
    assert run(_args([results], tmp_path / "bad.json")) == 2
    assert capsys.readouterr().err.startswith("gate: error: baseline")

    missing = tmp_path / "missing.jsonl"
    assert run(_args([missing], tmp_path / "baseline.json", update_baseline=True)) == 2
    assert capsys.readouterr().err == f"error: results file {missing} does not exist\n"
    assert not (tmp_path / "baseline.json").exists()

    assert run(_args([results], tmp_path / "baseline.json", policy=str(tmp_path / "absent.toml"))) == 2
    assert "gate: error: no gate policy at" in capsys.readouterr().err

    (tmp_path / "old.json").write_text(json.dumps({"kind": "attnbench-gate-baseline", "schema": 1}))
    assert run(_args([results], tmp_path / "old.json")) == 2
    assert "has schema 1, but this version reads schema 3" in capsys.readouterr().err


def test_a_corrupt_results_file_exits_2(tmp_path, capsys):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"kind": "result"}\n' * 2)
    assert run(_args([broken], tmp_path / "baseline.json", update_baseline=True)) == 2
    assert capsys.readouterr().err.startswith("gate: error: ")


def test_gate_cli_writes_a_baseline_and_passes_the_same_run(tiny_run, tmp_path):
    _, out = tiny_run
    baseline = tmp_path / "baseline.json"
    assert cli("gate", "--update-baseline", "--baseline", str(baseline), str(out / "results.jsonl")).returncode == 0
    assert cli("gate", "--baseline", str(baseline), str(out / "results.jsonl")).returncode == 0


def test_results_from_before_records_carried_a_complexity_are_still_bounded_by_their_class(tmp_path):
    """A legacy file (no `complexity` in its records) whose linformer grows like N^2: the class linformer
    declares now bounds it."""
    records = (sweep("linformer", Law(0, 1e-9, 2.0), [512, 1024, 2048, 4096, 8192], options={"k": 16})
               + sweep("sdpa", Law(0, 1e-9, 2.0), [512, 1024, 2048, 4096, 8192], seed=1))
    results = tmp_path / "legacy.jsonl"
    store = ResultStore(results)
    for record in records:
        record.complexity = None
        store.append(record)
    legacy = cli("gate", "--update-baseline", "--baseline", str(tmp_path / "b.json"), str(results))
    assert legacy.returncode == 0, legacy.stderr
    done = cli("gate", "--baseline", str(tmp_path / "b.json"), str(results))
    assert done.returncode == 1 and re.search(r"FAIL +scaling +linformer", done.stdout), done.stdout
