"""`run_bench.py run` end to end: a tiny sweep runs and reports, resumes after a kill; bad input exits 2."""

from __future__ import annotations

import json

import pytest

from tests.bench.cli.conftest import TINY, cli


def test_a_tiny_sweep_runs_end_to_end_and_writes_results_report_and_plots(tiny_run):
    done, out = tiny_run
    assert done.returncode == 0, done.stderr
    assert "device auto -> cpu" in done.stdout or "device auto -> cuda" in done.stdout
    assert f"report: {out / 'report.md'}" in done.stdout
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    results = [line for line in lines if line["kind"] == "result"]
    assert len(results) == 9 and {r["status"] for r in results} == {"ok"}
    assert "## Claims check" in (out / "report.md").read_text()
    assert list((out / "plots").glob("*.png"))
    run_line = next(line for line in lines if line["kind"] == "run")
    assert run_line["command"].startswith("python run_bench.py run") and run_line["sweep"]["name"] == "custom"
    assert lines[0] == run_line and not (out / "run_info.json").exists()
    assert "variant" in done.stdout and "verdict" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--models", "nosuch", "--seq-len", "16"], "unknown model 'nosuch'"),
    (["run", "nosuch-preset"], "neither a preset"),
    (["run", "--models", "fastformer", "--heads", "3", "--d-model", "16"], "not divisible"),
    (["run", "--models", "linformer", "--causal"], "no causal form"),
    (["run", "--models", "fastformer[scorer=magic]"], "scorer"),
    (["run", "--models", "fastformer", "--max-memory", "lots"], "cannot read memory size"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, message, tmp_path):
    done = cli(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_existing_results_file_is_never_overwritten(tiny_run):
    _, out = tiny_run
    before = (out / "results.jsonl").read_bytes()
    done = cli("run", *TINY, "--out", str(out))
    assert done.returncode == 2 and "--resume" in done.stderr
    assert (out / "results.jsonl").read_bytes() == before


def test_dry_run_lists_configurations_and_writes_nothing(tmp_path):
    done = cli("run", *TINY, "--out", str(tmp_path / "dry"), "--dry-run")
    assert done.returncode == 0 and "9 configurations (dry run" in done.stdout
    assert not (tmp_path / "dry").exists()


def test_resume_reuses_the_recorded_sweep_and_runs_only_what_is_missing(tiny_run, tmp_path):
    _, out = tiny_run
    run = tmp_path / "killed"
    run.mkdir()
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (run / "results.jsonl").write_text("".join(lines[:-3]) + lines[-3][:40])  # two lost, one torn
    done = cli("run", "--resume", str(run), "--no-report")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()
               if '"kind": "result"' in line]
    assert len(results) == 9 and len({r["key"] for r in results}) == 9
    again = cli("run", "--resume", str(run), "--no-report")
    assert again.returncode == 0 and (run / "results.jsonl").read_text().count('"kind": "result"') == 9


def test_resume_refuses_a_different_sweep(tiny_run):
    _, out = tiny_run
    done = cli("run", "--resume", str(out), "--budget-s", "0.5")
    assert done.returncode == 2 and "drop budget_s" in done.stderr


def test_resuming_a_corrupt_results_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"kind": "result", "schema": 1}\n{}\n')
    done = cli("run", "--resume", str(tmp_path))
    assert done.returncode == 2 and "not a valid record" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and bad.read_text().count("\n") == 2


def test_dry_run_says_each_configuration_runs_in_the_requested_passes(tmp_path):
    done = cli("run", "--models", "fastformer", "--seq-len", "64,128", "--passes", "3", "--dry-run",
               "--out", str(tmp_path / "dry"))
    assert done.returncode == 0, done.stderr
    assert "2 configurations, each in 3 passes (dry run: nothing measured, nothing written)" in done.stdout
    assert not (tmp_path / "dry").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--passes", "0", "timing.passes must be a positive integer, got 0"),
    ("--passes", "-2", "timing.passes must be a positive integer, got -2"),
    ("--seed", "-1", "timing.seed must be an integer >= 0, got -1"),
])
def test_bad_passes_or_seed_exits_2_with_one_line_naming_the_field(flag, value, message, tmp_path):
    done = cli("run", "--models", "fastformer", "--seq-len", "64,128", flag, value, "--dry-run",
               "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {message}"
    assert not (tmp_path / "out").exists()


def test_compile_eager_inductor_measures_both_and_compiles_cold_in_its_own_worker(tmp_path):
    out = tmp_path / "compiled"
    done = cli("run", "--models", "linear", "--seq-len", "32", "--d-model", "16", "--heads", "2", "--warmup", "1",
               "--min-repeats", "3", "--budget-s", "0.01", "--threads", "1", "--compile", "eager,inductor",
               "--out", str(out), "--no-report")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    results = {r["config"]["compile"]: r for r in lines if r["kind"] == "result"}
    assert set(results) == {"eager", "inductor"} and {r["status"] for r in results.values()} == {"ok"}
    compiled, eager = results["inductor"], results["eager"]
    assert compiled["compilation"]["first_call_s"] > compiled["summary"]["median"]
    assert compiled["compilation"]["graphs"] >= 1 and eager["compilation"] is None
    assert compiled["flops"]["agree"] and compiled["flops"]["counted"] == eager["flops"]["counted"]
    assert compiled["extra"]["worker_pid"] != eager["extra"]["worker_pid"]


@pytest.mark.parametrize(("args", "message"), [
    (["--compile", "jit"], "compile must be one of eager, inductor, inductor-cudagraphs"),
    (["--compile", "inductor-cudagraphs", "--device", "cpu"], "compile inductor-cudagraphs needs a CUDA device"),
    (["--tf32", "on", "--device", "cpu"], "tf32 true applies to float32 on CUDA only"),
])
def test_bad_compile_or_tf32_exits_2_with_one_line(args, message, tmp_path):
    done = cli("run", "--models", "linear", "--seq-len", "16", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_an_unreadable_tf32_switch_is_a_usage_error():
    done = cli("run", "--models", "linear", "--tf32", "maybe")
    assert done.returncode == 2 and "argument --tf32: expected off, on or off,on, got 'maybe'" in done.stderr
