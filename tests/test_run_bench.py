"""The command line end to end: a tiny sweep runs, reports, compares and gates; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import models
from run_bench import UsageError, _split_models, parse_variant

REPO = Path(__file__).resolve().parents[1]
TINY = ["--models", "fastformer,softmax,linear[chunk_size=8]", "--seq-len", "16,32,64", "--d-model", "16",
        "--heads", "2", "--warmup", "0", "--min-repeats", "3", "--budget-s", "0.01", "--threads", "1"]


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_bench.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("run") / "tiny"
    return cli("run", *TINY, "--out", str(out)), out


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
    assert json.loads((out / "run_info.json").read_text())["command"].startswith("python run_bench.py run")
    assert "variant" in done.stdout and "verdict" in done.stdout


def test_report_and_compare_read_stored_results(tiny_run, tmp_path):
    _, out = tiny_run
    rendered = cli("report", str(out / "results.jsonl"), "--out", str(tmp_path))
    assert rendered.returncode == 0 and (tmp_path / "report.md").exists()
    assert "python run_bench.py run" in (tmp_path / "report.md").read_text()
    compared = cli("compare", str(out / "results.jsonl"), str(out / "results.jsonl"))
    assert compared.returncode == 0 and "fastformer" in compared.stdout


def test_gate_cli_writes_a_baseline_and_passes_the_same_run(tiny_run, tmp_path):
    _, out = tiny_run
    baseline = tmp_path / "baseline.json"
    assert cli("gate", "--update-baseline", "--baseline", str(baseline), str(out / "results.jsonl")).returncode == 0
    assert cli("gate", "--baseline", str(baseline), str(out / "results.jsonl")).returncode == 0


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--models", "nosuch", "--seq-len", "16"], "unknown model 'nosuch'"),
    (["run", "nosuch-preset"], "neither a preset"),
    (["run", "--models", "fastformer", "--heads", "3", "--d-model", "16"], "not divisible"),
    (["run", "--models", "linformer", "--causal"], "no causal form"),
    (["run", "--models", "fastformer[scorer=magic]"], "scorer"),
    (["run", "--models", "fastformer", "--max-memory", "lots"], "cannot read memory size"),
    (["report", "missing.jsonl"], "does not exist"),
    (["selfcheck", "--device", "cuda"], "no CUDA device"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, message, tmp_path):
    if args[0] == "selfcheck":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
    done = cli(*args, "--out", str(tmp_path / "out")) if args[0] == "run" else cli(*args, cwd=tmp_path)
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


def test_list_models_shows_every_model_with_its_options():
    done = cli("list-models")
    assert done.returncode == 0
    for name in models.available():
        assert f"{name}: " in done.stdout
    assert "scorer = 'paper'" in done.stdout


def test_help_explains_every_subcommand():
    for sub in ("run", "report", "compare", "list-models", "selfcheck", "gate"):
        done = cli(sub, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout


def test_model_variants_parse_with_typed_options():
    assert parse_variant("fastformer[scorer=official,share_qv=false]") == {
        "name": "fastformer", "options": {"scorer": "official", "share_qv": False}}
    assert parse_variant("linear[chunk_size=8]")["options"] == {"chunk_size": 8}
    assert _split_models("a[x=1,y=2],b, c") == ["a[x=1,y=2]", "b", "c"]
    with pytest.raises(UsageError, match="closed"):
        parse_variant("fastformer[scorer=official")


def test_resume_reuses_the_recorded_sweep_and_runs_only_what_is_missing(tiny_run, tmp_path):
    _, out = tiny_run
    run = tmp_path / "killed"
    run.mkdir()
    (run / "run_info.json").write_text((out / "run_info.json").read_text())
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
