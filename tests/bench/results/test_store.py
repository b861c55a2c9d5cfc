"""bench.results.store: append-only JSON Lines results that survive interruption, with their run metadata."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench.config import BenchConfig
from bench.results.identity import fingerprint_id
from bench.results.record import SCHEMA_VERSION, Record
from bench.results.store import ResultStore, RunInfo, StorageError, StorageWarning

FINGERPRINT = {"torch_version": "2.13.0", "cpu_model": "Test CPU", "gpu_name": None, "cpu_logical_cores": 2,
               "packages": {"torch": "2.13.0"}}


def make_record(seq_len: int = 16, status: str = "ok", run_id: str = "run-a", **fields) -> Record:
    config = BenchConfig(model="softmax", batch=2, seq_len=seq_len, d_model=32, n_heads=4,
                         options={"scorer": "official"})
    if status != "ok":
        return Record(config=config, status=status, run_id=run_id, env_id=fingerprint_id(FINGERPRINT),
                      error="Traceback ...\nRuntimeError: boom", timestamp=1.0, duration_s=0.5, **fields)
    return Record(
        config=config, status="ok", run_id=run_id, env_id=fingerprint_id(FINGERPRINT),
        timing={"samples_s": [0.010, 0.012, 0.011], "cold_s": 0.05, "warmup": 2, "threads": 2,
                "timer": "perf_counter"},
        memory={"peak_bytes": 4096, "weights_bytes": 1024, "inputs_bytes": 512, "method": "linux_vmhwm"},
        flops={"analytic": 1000, "analytic_elementwise": 1100, "counted": 1000, "agree": True},
        kernel="aten", param_count=4224, device_name="Test CPU", timestamp=1.0, duration_s=0.3,
        extra={"worker_pid": 123}, **fields)


@pytest.fixture
def store(tmp_path) -> ResultStore:
    """A results file that already holds the environment line FINGERPRINT's records refer to."""
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_environment(FINGERPRINT)
    return store


def lines_of(path) -> list[str]:
    return path.read_text().splitlines()


def test_records_and_environment_round_trip_through_the_file(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    env_id = store.append_environment(FINGERPRINT)
    written = [make_record(16), make_record(32, status="oom")]
    for record in written:
        store.append(record)
    contents = store.read()
    assert env_id == fingerprint_id(FINGERPRINT)
    assert contents.environments == {env_id: FINGERPRINT}
    assert [r.to_json() for r in contents.records] == [r.to_json() for r in written]
    assert contents.problems == []
    kinds = [json.loads(line)["kind"] for line in lines_of(store.path)]
    assert kinds == ["environment", "result", "result"]


def test_an_environment_already_in_the_file_is_not_written_again(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    first = store.append_environment(FINGERPRINT)
    second = ResultStore(store.path).append_environment({**FINGERPRINT, "timestamp": 2.0})
    assert first == second
    assert len(lines_of(store.path)) == 1


def test_a_missing_file_reads_as_empty_and_appending_creates_its_directory(tmp_path):
    store = ResultStore(tmp_path / "new" / "dir" / "results.jsonl")
    assert store.read().records == []
    store.append(make_record())
    assert len(store.read().records) == 1


def test_torn_last_line_is_reported_skipped_and_removed_before_the_next_append(store):
    store.append(make_record(16))
    torn = make_record(32).to_line()[:57]
    with open(store.path, "a") as fh:
        fh.write(torn)
    contents = store.read()
    assert [r.config.seq_len for r in contents.records] == [16]
    assert len(contents.problems) == 1 and ":3: torn last line" in contents.problems[0]

    with pytest.warns(StorageWarning, match="removed a torn last line"):
        store.append(make_record(64))
    assert len(store.repairs) == 1 and ":3:" in store.repairs[0]
    seq_lens = [json.loads(line).get("config", {}).get("seq_len") for line in lines_of(store.path)]
    assert seq_lens == [None, 16, 64]
    assert store.read().problems == []


def test_complete_last_line_without_newline_is_kept_and_terminated_on_append(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(make_record(16).to_line())
    contents = store.read()
    assert [r.config.seq_len for r in contents.records] == [16]
    assert "lacks its newline" in contents.problems[0]
    with pytest.warns(StorageWarning, match="added the missing newline"):
        store.append(make_record(32))
    assert [r.config.seq_len for r in store.read().records] == [16, 32]


@pytest.mark.parametrize("bad_line", ['{"kind": "result", "sch', "not json at all", "[1, 2]", "\x00\xff"])
def test_a_corrupt_line_in_the_middle_raises_with_file_and_line_number(tmp_path, bad_line):
    store = ResultStore(tmp_path / "results.jsonl")
    lines = [make_record(8).to_line(), make_record(16).to_line(), bad_line, make_record(32).to_line()]
    store.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StorageError, match=r"results\.jsonl:3: .*corrupt"):
        store.read()


def test_a_corrupt_last_line_that_was_written_whole_is_an_error_not_a_torn_write(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(make_record(16).to_line() + "\n{oops}\n")
    with pytest.raises(StorageError, match=":2: "):
        store.read()


def test_an_edited_result_line_whose_key_no_longer_matches_is_rejected(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(make_record(16).to_line().replace('"seq_len": 16', '"seq_len": 17') + "\n")
    with pytest.raises(StorageError, match=":1: stored key"):
        store.read()


@pytest.mark.parametrize("kind", ["result", "environment"])
def test_an_unknown_schema_version_is_a_clear_error(tmp_path, kind):
    store = ResultStore(tmp_path / "results.jsonl")
    if kind == "result":
        line = {**make_record().to_json(), "schema": SCHEMA_VERSION + 1}
    else:
        line = {"kind": "environment", "schema": SCHEMA_VERSION + 1, "id": "x", "fingerprint": {}}
    store.path.write_text(json.dumps(line) + "\n")
    with pytest.raises(StorageError, match=f"schema {SCHEMA_VERSION + 1}.*reads schema {SCHEMA_VERSION}"):
        store.read()


def test_an_unknown_line_kind_is_a_clear_error(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(json.dumps({"kind": "banana", "schema": SCHEMA_VERSION}) + "\n")
    with pytest.raises(StorageError, match="unknown line kind 'banana'"):
        store.read()


def test_a_duplicated_key_keeps_the_last_line_and_says_so(store):
    store.append(make_record(16, status="error", run_id="first"))
    store.append(make_record(32))
    store.append(make_record(16, run_id="second"))
    contents = store.read()
    assert [(r.config.seq_len, r.run_id, r.status) for r in contents.records] == [(32, "run-a", "ok"),
                                                                               (16, "second", "ok")]
    assert len(contents.problems) == 1
    assert "appears on lines 2 and 4; keeping line 4" in contents.problems[0]


def test_a_record_whose_environment_is_missing_is_reported(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(make_record())
    assert "has no environment line" in store.read().problems[0]


def test_only_one_run_at_a_time_holds_a_file(tmp_path):
    path = tmp_path / "results.jsonl"
    with ResultStore(path).exclusive():
        with pytest.raises(StorageError, match="being written by another run"):
            with ResultStore(path).exclusive():
                pass
    with ResultStore(path).exclusive():
        pass


def test_duplicates_are_judged_by_identity_not_by_timing_policy(store):
    store.append(make_record(16))
    again = make_record(16)
    again = Record(**{**again.__dict__, "config": dataclasses.replace(again.config, budget_s=9.0)})
    store.append(again)
    contents = store.read()
    assert [r.config.budget_s for r in contents.records] == [9.0]
    assert "appears on lines" in contents.problems[0] and "softmax[scorer=official] N=16" in contents.problems[0]


def test_the_run_line_records_command_and_sweep_and_is_read_back(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append_run(RunInfo("r1", "python run_bench.py run quick", {"name": "quick", "models": ["softmax"]}))
    store.append(make_record(16))
    store.append_run(RunInfo("r2", "python run_bench.py run --resume x", {"name": "quick"}))
    contents = store.read()
    assert [run.run_id for run in contents.runs] == ["r1", "r2"] and len(contents.records) == 1
    assert store.run_info() == RunInfo("r1", "python run_bench.py run quick", {"name": "quick", "models": ["softmax"]})


def test_files_from_before_the_run_line_read_their_run_info_json(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.append(make_record(16))
    assert store.run_info() is None
    (tmp_path / "run_info.json").write_text(json.dumps({"run_id": "old", "command": "python run_bench.py run quick",
                                                        "sweep_spec": {"name": "quick"}}))
    assert store.run_info() == RunInfo("old", "python run_bench.py run quick", {"name": "quick"})


PROBE = {"device": "cpu", "dtype": "float32", "d_model": 32, "threads": 1, "threads_used": 1, "rows": 4096,
         "flops": 2 * 4096 * 32 * 32, "samples_s": [1e-4, 1.1e-4, 1.2e-4], "flops_per_s": 2 * 4096 * 32 * 32 / 1.1e-4}


def in_pass(record: Record, pass_index: int, **changes) -> Record:
    """`record` measured in replicated pass `pass_index` (its other fields as given)."""
    config = dataclasses.replace(record.config, pass_index=pass_index)
    return Record(**{**record.__dict__, "config": config, **changes})


def test_a_probe_line_is_read_back_with_its_run_and_environment(store):
    env_id = fingerprint_id(FINGERPRINT)
    store.append_probe("run-a", env_id, PROBE)
    store.append(make_record(16))
    store.append_probe("run-b", env_id, {**PROBE, "d_model": 64})
    contents = store.read()
    assert contents.probes == [{**PROBE, "run_id": "run-a", "env_id": env_id},
                               {**PROBE, "d_model": 64, "run_id": "run-b", "env_id": env_id}]
    assert len(contents.records) == 1 and contents.problems == []
    line = json.loads(lines_of(store.path)[1])
    assert line == {"kind": "probe", "schema": SCHEMA_VERSION, "run_id": "run-a", "env_id": env_id, "probe": PROBE}


@pytest.mark.parametrize("probe", [None, [1, 2], "fast", 3.5])
def test_a_probe_line_without_an_object_probe_names_the_line(tmp_path, probe):
    store = ResultStore(tmp_path / "results.jsonl")
    line = {"kind": "probe", "schema": SCHEMA_VERSION, "run_id": "r", "env_id": "e", "probe": probe}
    store.path.write_text(make_record(16).to_line() + "\n" + json.dumps(line) + "\n")
    with pytest.raises(StorageError, match=r"results\.jsonl:2: probe line needs an object 'probe'"):
        store.read()


def test_a_probe_line_missing_its_probe_names_the_line(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(json.dumps({"kind": "probe", "schema": SCHEMA_VERSION, "run_id": "r"}) + "\n")
    with pytest.raises(StorageError, match=r"results\.jsonl:1: probe line needs an object 'probe'"):
        store.read()


def test_a_probe_line_of_an_unknown_schema_is_a_clear_error(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl")
    store.path.write_text(json.dumps({"kind": "probe", "schema": SCHEMA_VERSION + 1, "probe": PROBE}) + "\n")
    with pytest.raises(StorageError, match=f":1: probe line has schema {SCHEMA_VERSION + 1}"):
        store.read()


def test_one_configuration_in_different_passes_is_kept_once_per_pass(store):
    first = make_record(16)
    store.append(first)
    store.append(in_pass(first, 1, memory=None, flops=None))
    store.append(in_pass(first, 2, status="timeout", timing=None, memory=None, flops=None, error="timed out"))
    contents = store.read()
    assert [(r.config.pass_index, r.status) for r in contents.records] == [(0, "ok"), (1, "ok"), (2, "timeout")]
    assert contents.problems == []
    assert len({r.pass_key for r in contents.records}) == 3 and len({r.key for r in contents.records}) == 1


def test_the_same_pass_twice_keeps_the_last_line_and_says_so(store):
    first = make_record(16)
    store.append(first)
    store.append(in_pass(first, 1, run_id="early"))
    store.append(in_pass(first, 1, run_id="late"))
    contents = store.read()
    assert [(r.config.pass_index, r.run_id) for r in contents.records] == [(0, "run-a"), (1, "late")]
    assert len(contents.problems) == 1
    problem = contents.problems[0]
    assert "softmax[scorer=official] N=16" in problem and ", pass 1 appears on lines 3 and 4; keeping line 4" in problem
