"""Records serialise to one JSON line and one flat table row with documented columns."""

import json

import pytest

from bench.config import BenchConfig
from bench.results.record import COLUMNS, SCHEMA_VERSION, Record


def _record(**overrides) -> Record:
    config = BenchConfig(model="fastformer", batch=2, seq_len=64, d_model=32, n_heads=4,
                         options={"scorer": "official"})
    fields = {"config": config, "status": "ok", "run_id": "r1", "env_id": "e1",
              "timing": {"samples_s": [0.2, 0.1, 0.3], "cold_s": 0.5, "threads": 2, "timer": "perf_counter"},
              "memory": {"peak_bytes": 1000, "weights_bytes": 10, "inputs_bytes": 20},
              "flops": {"analytic": 1000, "counted": 1000, "agree": True}, "kernel": "aten"}
    fields.update(overrides)
    return Record(**fields)


def test_json_line_round_trip_preserves_everything():
    record = _record()
    line = record.to_line()
    assert "\n" not in line
    data = json.loads(line)
    assert data["schema"] == SCHEMA_VERSION and data["kind"] == "result" and data["key"] == record.config.digest()
    assert data["summary"]["median"] == 0.2
    assert Record.from_json(data) == record


def test_row_has_exactly_the_documented_columns_and_derived_rates():
    row = _record().row()
    assert tuple(row) == COLUMNS
    assert row["median_s"] == 0.2 and row["n_samples"] == 3
    assert row["tokens_per_s"] == pytest.approx(128 / 0.2)
    assert row["flops_per_s"] == pytest.approx(1000 / 0.2)
    assert row["variant"] == "fastformer[scorer=official]"


def test_failed_record_has_no_timing_but_keeps_its_error():
    row = _record(status="oom", timing=None, memory=None, flops=None, error="CUDA out of memory").row()
    assert row["status"] == "oom" and row["median_s"] is None and row["n_samples"] == 0
    assert row["error"] == "CUDA out of memory"


def test_unknown_status_and_schema_are_refused():
    with pytest.raises(ValueError, match="status"):
        _record(status="fine")
    data = _record().to_json()
    data["schema"] = 99
    with pytest.raises(ValueError, match="schema"):
        Record.from_json(data)


def test_non_finite_numbers_never_reach_the_file():
    with pytest.raises(ValueError):
        _record(extra={"x": float("nan")}).to_line()
