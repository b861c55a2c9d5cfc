"""bench.results.table: results files as one pandas table, joined with their environments."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.config import BenchConfig
from bench.measure.environment import fingerprint
from bench.results.identity import fingerprint_id
from bench.results.record import COLUMNS, Record
from bench.results.store import ResultStore, StorageError, StorageWarning
from bench.results.table import (
    BOOLEAN_COLUMNS,
    INTEGER_COLUMNS,
    environment_columns,
    load_results,
    read_file,
    records_table,
    with_dtypes,
)
from tests.bench.results.test_store import FINGERPRINT, make_record


def test_load_results_has_exactly_the_record_columns_then_the_environment_columns(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment(FINGERPRINT)
    store.append(make_record(16))
    store.append(make_record(32, status="timeout"))
    table = load_results(store.path)
    env_columns = ["env_cpu_logical_cores", "env_cpu_model", "env_gpu_name", "env_torch_version"]
    assert list(table.columns) == [*COLUMNS, "hardware", "probe_flops_per_s", *env_columns]
    assert table["seq_len"].tolist() == [16, 32]
    assert table["status"].tolist() == ["ok", "timeout"]
    assert table["median_s"].iloc[0] == pytest.approx(0.011)
    assert table["samples_s"].iloc[0] == [0.010, 0.012, 0.011]
    assert table["env_cpu_model"].tolist() == ["Test CPU", "Test CPU"]
    assert table["env_torch_version"].tolist() == ["2.13.0", "2.13.0"]
    assert table.loc[1, "error"].endswith("RuntimeError: boom")


def test_load_results_concatenates_files_and_joins_each_to_its_own_environment(tmp_path):
    other_fp = {**FINGERPRINT, "cpu_model": "Other CPU"}
    paths = []
    for name, fp in (("a.jsonl", FINGERPRINT), ("b.jsonl", other_fp)):
        store = ResultStore(tmp_path / name)
        env_id = store.append_environment(fp)
        record = make_record(16)
        record.env_id = env_id
        store.append(record)
        paths.append(store.path)
    table = load_results(paths)
    assert table["env_cpu_model"].tolist() == ["Test CPU", "Other CPU"]
    assert table["key"].nunique() == 1
    assert {env for path in paths for env in read_file(path).environments} == {fingerprint_id(FINGERPRINT),
                                                                               fingerprint_id(other_fp)}


def test_load_results_of_an_empty_file_is_an_empty_table_with_the_columns(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text("")
    assert list(load_results(path).columns) == [*COLUMNS, "hardware", "probe_flops_per_s"]


def test_each_row_gets_the_matmul_rate_of_the_probe_at_its_device_dtype_and_width(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment(FINGERPRINT)
    store.append_probe("other", "", {"device": "cpu", "dtype": "float32", "d_model": 32, "flops_per_s": 1e9})
    store.append_probe("r", "", {"device": "cpu", "dtype": "float32", "d_model": 32, "flops_per_s": 2e9})
    store.append_probe("r", "", {"device": "cpu", "dtype": "float64", "d_model": 32, "flops_per_s": 3e9})
    for record in (make_record(16), make_record(32)):
        record.run_id = "r"
        store.append(record)
    assert [p["run_id"] for p in store.read().probes] == ["other", "r", "r"]
    assert load_results(store.path)["probe_flops_per_s"].tolist() == [2e9, 2e9]  # own run, float32
    store.append_probe("r", "", {"device": "cpu", "dtype": "float32", "d_model": 64, "flops_per_s": 4e9})
    assert load_results(store.path)["probe_flops_per_s"].tolist() == [2e9, 2e9]  # another width is no match


def test_load_results_warns_about_recoverable_problems_and_refuses_a_missing_file(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment(FINGERPRINT)
    store.append(make_record())
    with open(store.path, "a") as fh:
        fh.write('{"kind": "res')
    with pytest.warns(StorageWarning, match="torn last line"):
        assert len(load_results(store.path)) == 1
    with pytest.raises(StorageError, match="no results file"):
        load_results(tmp_path / "missing.jsonl")


def test_environment_columns_flatten_the_real_fingerprints_scalar_fields():
    fp = fingerprint()
    columns = environment_columns(fp)
    assert columns["env_torch_version"] == fp["torch_version"]
    assert columns["env_cpu_model"] == fp["cpu_model"]
    assert "env_gpu_name" in columns
    assert "env_packages" not in columns


def test_the_hardware_column_names_the_cpu_or_gpu_and_is_empty_for_an_unknown_environment():
    cpu, unknown = make_record(16), make_record(32)
    unknown.env_id = "nowhere"
    table = records_table([cpu, unknown], {cpu.env_id: FINGERPRINT})
    assert table["hardware"].iloc[0] == "cpu:Test CPU x2" and pd.isna(table["hardware"].iloc[1])
    gpu = {**FINGERPRINT, "gpu_name": "NVIDIA H200"}
    assert records_table([cpu], {cpu.env_id: gpu})["hardware"].tolist() == ["cpu:Test CPU x2"]


def _full_record() -> Record:
    """An ok record with every part filled in, so each column holds a value of its kind."""
    config = BenchConfig(model="softmax", batch=2, seq_len=16, d_model=32, n_heads=4, device="cuda", tf32=True)
    return Record(
        config=config, status="ok", run_id="r", env_id="e",
        timing={"samples_s": [0.010, 0.012, 0.011], "cold_s": 0.05, "threads": 2, "timer": "perf_counter"},
        memory={"peak_bytes": 4096, "weights_bytes": 1024, "inputs_bytes": 512, "cuda_peak_allocated_bytes": 1,
                "cuda_peak_reserved_bytes": 2, "nvml_process_bytes": 3, "method": "linux_vmhwm"},
        flops={"analytic": 1000, "analytic_elementwise": 1100, "counted": 1000, "agree": True},
        compilation={"mode": "inductor", "first_call_s": 2.0, "graphs": 1},
        prediction={"time_s": 1.0, "peak_bytes": 2.0e9, "reason": "r"},
        energy={"source": "rapl", "window_s": 1.0, "calls": 10, "idle_w": 5.0, "gross_j_per_call": 0.1,
                "net_j_per_call": 0.05, "gross_j_per_token": 1e-3, "net_j_per_token": 5e-4,
                "after": {"temperature_c": 40, "power_w": 100.5, "sm_clock_mhz": 1980}},
        placement={"executor": "local", "placement": "exclusive", "host": "h", "slot": "0", "attempts": 1,
                   "others_on_device": 0},
        kernel="aten", param_count=4224, device_name="Test CPU", timestamp=1.0, duration_s=0.3)


def test_every_integer_and_boolean_column_of_a_record_is_typed_as_such():
    row = _full_record().row()
    assert {name for name, v in row.items() if isinstance(v, int) and not isinstance(v, bool)} == set(INTEGER_COLUMNS)
    assert {name for name, v in row.items() if isinstance(v, bool)} == set(BOOLEAN_COLUMNS)


def test_integer_and_boolean_columns_are_nullable_integers_and_booleans_even_with_missing_values(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment({**FINGERPRINT, "git_dirty": False})
    store.append(make_record(16))
    store.append(make_record(32, status="timeout"))
    table = load_results(store.path)
    for name in INTEGER_COLUMNS:
        assert str(table[name].dtype) == "Int64", name
    for name in BOOLEAN_COLUMNS:
        assert str(table[name].dtype) == "boolean", name
    assert table["peak_bytes"].tolist() == [4096, pd.NA]  # not 4096.0 and nan
    assert table["flops_agree"].tolist() == [True, pd.NA] and table["causal"].tolist() == [False, False]
    assert str(table["env_cpu_logical_cores"].dtype) == "Int64" and str(table["env_git_dirty"].dtype) == "boolean"
    assert table["median_s"].dtype == float and table["samples_s"].iloc[1] == []


def test_concatenated_files_keep_the_nullable_dtypes(tmp_path):
    paths = []
    for name, status in (("a.jsonl", "ok"), ("b.jsonl", "error")):
        store = ResultStore(tmp_path / name)
        store.append_environment(FINGERPRINT)
        store.append(make_record(16, status=status))
        paths.append(store.path)
    table = load_results(paths)
    assert str(table["peak_bytes"].dtype) == "Int64" and str(table["noisy"].dtype) == "boolean"
    assert table["peak_bytes"].tolist() == [4096, pd.NA]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert str(load_results(empty)["seq_len"].dtype) == "Int64"


def test_a_column_whose_values_do_not_fit_its_dtype_is_left_as_it_is():
    typed = with_dtypes(pd.DataFrame({"peak_bytes": [1.5, None], "env_cores": pd.Series([2, None], dtype=object),
                                     "env_name": ["x", None]}))
    assert typed["peak_bytes"].tolist()[0] == 1.5
    assert str(typed["env_cores"].dtype) == "Int64" and typed["env_name"].dtype != "Int64"
