"""`run_bench.py report`: re-render a report from stored results, with the command that made them."""

from __future__ import annotations

import json

from bench.cli.common import with_declared_complexity
from tests.bench.cli.conftest import cli
from tests.fixtures.synthetic import Law, frame, sweep


def test_report_reads_stored_results_and_the_recorded_command(tiny_run, tmp_path):
    _, out = tiny_run
    rendered = cli("report", str(out / "results.jsonl"), "--out", str(tmp_path))
    assert rendered.returncode == 0 and (tmp_path / "report.md").exists()
    assert "python run_bench.py run" in (tmp_path / "report.md").read_text()


def test_a_missing_or_corrupt_results_file_is_one_line_and_exit_2(tmp_path):
    done = cli("report", "missing.jsonl", cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr and len(done.stderr.splitlines()) == 1
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text(json.dumps({"kind": "nonsense", "schema": 1}) + "\n" + "{}\n")
    done = cli("report", str(corrupt), cwd=tmp_path)
    assert done.returncode == 2 and "unknown line kind" in done.stderr and "Traceback" not in done.stderr


def test_results_written_before_records_carried_a_complexity_get_the_declared_one():
    rows = frame(sweep("nystromformer", Law(1e-4, 1e-6, 1.0), [128, 256]) +
                 sweep("tests.fixtures.toy_models:ToyLinear", Law(1e-4, 1e-6, 1.0), [128, 256]))
    filled = with_declared_complexity(rows)
    assert set(filled.loc[filled["model"] == "nystromformer", "complexity_time"]) == {"linear"}
    assert filled.loc[filled["model"] != "nystromformer", "complexity_time"].isna().all()
