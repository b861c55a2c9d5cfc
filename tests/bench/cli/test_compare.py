"""`run_bench.py compare`: two stored runs side by side."""

from __future__ import annotations

import pytest

from bench.cli.common import UsageError
from bench.cli.compare import min_effect
from tests.bench.cli.conftest import REPO, cli


def test_compare_reads_two_stored_runs(tiny_run):
    _, out = tiny_run
    compared = cli("compare", str(out / "results.jsonl"), str(out / "results.jsonl"))
    assert compared.returncode == 0 and "fastformer" in compared.stdout


def test_compare_of_a_missing_file_is_one_line_and_exit_2(tmp_path):
    done = cli("compare", "a.jsonl", "b.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr and len(done.stderr.splitlines()) == 1


def test_compare_of_two_stored_runs_gives_the_machine_speed_and_the_minimum_effect():
    runs = REPO / "reports" / "quick-cpu"
    done = cli("compare", str(runs), str(runs / "second-run"), "--min-effect", "10%")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine speed: B is 1.10x faster than A in the median over 119 configurations")
    assert "causal" in lines[3].split() and "vs machine" in lines[3]
    assert "a ratio beyond the 10 % minimum effect (B/A above 1.1 or below 0.909; --min-effect)" in done.stdout


def test_the_minimum_effect_is_a_percentage_or_a_fraction():
    assert min_effect("5%") == pytest.approx(0.05) and min_effect("0.05") == 0.05 and min_effect("0") == 0
    assert min_effect(" 12.5% ") == pytest.approx(0.125) and min_effect("150%") == 1.5
    for bad, said in (("5", "would be a 500 % change"), ("-5%", "must be 0 or more"), ("nan", "must be 0 or more"),
                      ("five", "is not a percentage or a fraction")):
        with pytest.raises(UsageError, match=said):
            min_effect(bad)


def test_a_bad_minimum_effect_is_one_line_and_exit_2(tmp_path):
    done = cli("compare", "a.jsonl", "b.jsonl", "--min-effect", "5", cwd=tmp_path)
    assert done.returncode == 2 and "--min-effect 5 would be a 500 % change" in done.stderr
    assert len(done.stderr.splitlines()) == 1
