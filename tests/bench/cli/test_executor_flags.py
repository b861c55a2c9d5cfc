"""`run`'s executor flags: a missing extra, a device that is not there or a placement that cannot hold is
one line, exit 2, and nothing written; an [executor] table is read from the sweep file."""

from __future__ import annotations

import sys

import pytest

from bench.cli import main

TINY = ["run", "--models", "softmax", "--seq-len", "16", "--d-model", "8", "--heads", "1", "--device", "cpu"]


def _run(args, tmp_path, capsys) -> tuple[int, str]:
    code = main([*TINY, *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    return code, err.strip()


@pytest.mark.parametrize("extra, module, install", [("ray", "ray", "attnbench[ray]"),
                                                    ("slurm", "submitit", "attnbench[slurm]")])
def test_an_executor_whose_extra_is_missing_names_the_install_command(extra, module, install, tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as without the extra
    code, err = _run(["--executor", extra], tmp_path, capsys)
    assert code == 2 and install in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--devices", "cuda:0"], "cuda:0 does not exist"),
    (["--devices", "gpu1"], "'gpu1' is not a device"),
    (["--per-device", "2"], "placement exclusive does not"),
    (["--placement", "packed", "--per-device", "0"], "executor.per_device must be a positive integer"),
    (["--executor", "ray", "--devices", "all"], "executor.devices applies to the local executor"),
    (["--retries", "-1"], "executor.retries must be an integer >= 0"),
])
def test_bad_executor_flags_are_one_line_naming_the_flag(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible, whatever the machine has
    code, err = _run(args, tmp_path, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_a_bad_executor_table_in_a_sweep_file_names_the_file_and_field(tmp_path, capsys):
    sweep = tmp_path / "s.toml"
    sweep.write_text('models = ["softmax"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 8\nn_heads = 1\n'
                     '[executor]\nplacement = "everywhere"\n')
    code = main(["run", str(sweep), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and str(sweep) in err and "executor.placement must be one of exclusive, packed" in err
    assert not (tmp_path / "out").exists()


def test_the_dry_run_accepts_executor_flags_without_starting_anything(tmp_path, capsys):
    code = main([*TINY, "--placement", "packed", "--dry-run", "--out", str(tmp_path / "out")])
    assert code == 0 and "dry run" in capsys.readouterr().out


def test_a_run_on_submitits_debug_cluster_stores_its_shards_beside_the_results(tmp_path, capsys):
    pytest.importorskip("submitit")
    out = tmp_path / "out"
    code = main([*TINY, "--min-repeats", "1", "--budget-s", "0.01", "--executor", "slurm", "--slurm-cluster",
                 "debug", "--no-report", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "executor slurm (submitit cluster debug)" in printed
    assert list((out / "slurm" / "shards").glob("*.json"))
    from bench.results.store import ResultStore

    (record,) = ResultStore(out / "results.jsonl").read().records
    assert record.status == "ok" and record.placement.executor == "slurm"
    assert ResultStore(out / "results.jsonl").run_info().sweep["executor"] == {"name": "slurm",
                                                                                "slurm_cluster": "debug"}
