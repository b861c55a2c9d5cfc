"""`run_bench.py gate` (bench.cli.gate.run): exit 0 on a pass, 1 on a regression, 2 on bad input, and
--update-baseline writes the baseline from results files."""

from __future__ import annotations

import argparse
import json
import re

from bench.cli.gate import run
from bench.gate import load_baseline
from bench.results.store import ResultStore
from tests.bench.cli.conftest import cli
from tests.fixtures.gate_data import CPU_A, write_results
from tests.fixtures.synthetic import Law, sweep


def _args(results, baseline, *, policy=None, update_baseline=False) -> argparse.Namespace:
    return argparse.Namespace(results=[str(p) for p in results], baseline=str(baseline), policy=policy,
                              update_baseline=update_baseline)


def test_update_baseline_then_gate_exit_codes_and_table(tmp_path, capsys):
    first = write_results(tmp_path / "base.jsonl", CPU_A, seed=1)
    baseline = tmp_path / "baseline.json"
    assert run(_args([first], baseline, update_baseline=True)) == 0
    assert capsys.readouterr().out == (
        f"wrote baseline {baseline}: 35 configuration(s) (28 with a ratio to sdpa), 5 scaling series, "
        f"1 crossover(s), hardware cpu:Synthetic CPU A x2\n")
    assert load_baseline(baseline).hardware_key == "cpu:Synthetic CPU A x2"

    same = write_results(tmp_path / "same.jsonl", CPU_A, seed=2, machine=1.2)
    assert run(_args([same], baseline)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["STATUS", "CHECK", "SUBJECT"] and "GATE PASSED" in out

    slower = write_results(tmp_path / "slow.jsonl", CPU_A, seed=5, slowdown={"linear": 1.3})
    assert run(_args([slower], baseline)) == 1
    out = capsys.readouterr().out
    assert out.startswith("STATUS") and "GATE FAILED" in out
    assert re.search(r"^FAIL +relative +linear N=1024 .* ratio to sdpa ", out, re.MULTILINE)


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
    assert "has schema 1, but this version reads schema 2" in capsys.readouterr().err


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
