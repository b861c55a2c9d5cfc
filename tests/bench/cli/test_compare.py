"""`run_bench.py compare`: two stored runs side by side."""

from __future__ import annotations

from tests.bench.cli.conftest import cli


def test_compare_reads_two_stored_runs(tiny_run):
    _, out = tiny_run
    compared = cli("compare", str(out / "results.jsonl"), str(out / "results.jsonl"))
    assert compared.returncode == 0 and "fastformer" in compared.stdout


def test_compare_of_a_missing_file_is_one_line_and_exit_2(tmp_path):
    done = cli("compare", "a.jsonl", "b.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr and len(done.stderr.splitlines()) == 1
