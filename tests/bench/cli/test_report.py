"""`run_bench.py report`: re-render a report from stored results, with the command that made them."""

from __future__ import annotations

import csv
import json

import pandas as pd

from bench.cli.common import with_declared_complexity
from bench.results.export import read_csv
from bench.results.store import ResultStore
from tests.bench.cli.conftest import cli
from tests.fixtures.synthetic import Law, frame, sweep


def test_report_csv_writes_results_csv_beside_report_md(tmp_path):
    store = ResultStore(tmp_path / "run" / "results.jsonl")
    store.append_environment({"cpu_model": "Synthetic CPU", "cpu_logical_cores": 2})
    records = (sweep("fastformer", Law(1e-4, 1e-7, 1.0), [128, 256, 512], passes=2, memory_law=Law(1e5, 8.0, 1.0))
               + sweep("softmax", Law(1e-4, 1e-9, 2.0), [128, 256, 512], fail_from=512, causal=True))
    for record in records:
        store.append(record)
    done = cli("report", str(store.path.parent), "--csv", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    path = tmp_path / "out" / "results.csv"
    assert f"csv: {path}" in done.stdout and (tmp_path / "out" / "report.md").exists()
    plain = pd.read_csv(path)
    assert len(plain) == 9 and "samples_s" not in plain.columns and "median_s" in plain.columns
    assert plain["pass"].tolist() == [0, 1, 0, 1, 0, 1, 0, 0, 0] and plain["causal"].tolist()[-1]
    typed = read_csv(path)
    assert str(typed["peak_bytes"].dtype) == "Int64" and typed["peak_bytes"].isna().sum() == 6
    with open(path, newline="", encoding="utf-8") as fh:
        assert [row["status"] for row in csv.DictReader(fh)][-1] == "oom"


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
