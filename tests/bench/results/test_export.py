"""bench.results.export: the results table as CSV that pandas and the csv module read back."""

from __future__ import annotations

import csv
import json

import pandas as pd

from bench.results.export import FLOAT_COLUMNS, csv_columns, read_csv, write_csv
from bench.results.record import COLUMNS
from bench.results.store import ResultStore
from bench.results.table import load_results
from tests.bench.results.test_store import FINGERPRINT, make_record
from tests.bench.results.test_table import _full_record


def _table(tmp_path) -> pd.DataFrame:
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment({**FINGERPRINT, "git_dirty": True})
    store.append(make_record(16))
    store.append(make_record(32, status="error"))  # a traceback over two lines, most columns missing
    return load_results(store.path)


def test_the_csv_has_every_column_but_the_raw_samples_and_reads_back_with_the_tables_dtypes(tmp_path):
    table = _table(tmp_path)
    path = write_csv(table, tmp_path / "out" / "results.csv")
    assert csv_columns(table) == [c for c in table.columns if c != "samples_s"]
    back = read_csv(path)
    assert list(back.columns) == csv_columns(table)
    for name in back.columns:
        for given, read in zip(table[name].tolist(), back[name].tolist(), strict=True):
            assert (pd.isna(given) and pd.isna(read)) if given is None or pd.isna(given) else given == read, name
    for name, dtype in (("peak_bytes", "Int64"), ("flops_agree", "boolean"), ("causal", "boolean"),
                        ("env_cpu_logical_cores", "Int64"), ("env_git_dirty", "boolean")):
        assert str(back[name].dtype) == dtype == str(table[name].dtype), name
    assert back["median_s"].iloc[0] == table["median_s"].iloc[0]  # floats exactly, not rounded
    assert back["error"].iloc[1] == "Traceback ...\nRuntimeError: boom"


def test_plain_pandas_and_the_csv_module_read_it(tmp_path):
    path = write_csv(_table(tmp_path), tmp_path / "results.csv")
    plain = pd.read_csv(path)
    assert plain["seq_len"].tolist() == [16, 32] and plain["seq_len"].dtype == "int64"
    assert plain["causal"].tolist() == [False, False] and plain["status"].tolist() == ["ok", "error"]
    assert json.loads(plain["options"].iloc[0]) == {"scorer": "official"}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["seq_len"] for r in rows] == ["16", "32"] and rows[0]["peak_bytes"] == "4096"
    assert rows[1]["peak_bytes"] == "" and rows[0]["flops_agree"] == "True" and rows[1]["flops_agree"] == ""
    assert rows[1]["error"].endswith("RuntimeError: boom") and "samples_s" not in rows[0]


def test_float_columns_are_the_columns_that_hold_floats():
    row = _full_record().row()
    floats = {name for name, value in row.items() if isinstance(value, float)}
    assert floats == set(FLOAT_COLUMNS) & set(COLUMNS)
