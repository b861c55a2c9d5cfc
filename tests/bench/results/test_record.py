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


ENERGY = {"source": "nvml_counter", "window_s": 5.02, "calls": 510, "idle_w": 60.0, "gross_j_per_call": 3.5,
          "net_j_per_call": 2.9, "gross_j_per_token": 3.5 / 128, "net_j_per_token": 2.9 / 128,
          "before": {"temperature_c": 40.0}, "after": {"sm_clock_mhz": 1980.0, "temperature_c": 55.0,
                                                      "power_w": 350.0}}


def test_energy_round_trips_and_fills_its_columns():
    record = _record(energy=ENERGY)
    assert Record.from_json(json.loads(record.to_line())) == record
    row = record.row()
    assert (row["energy_source"], row["energy_j_per_call"], row["energy_net_j_per_call"]) == ("nvml_counter", 3.5, 2.9)
    assert row["energy_net_j_per_token"] == pytest.approx(2.9 / 128) and row["energy_idle_w"] == 60.0
    assert (row["gpu_temperature_c"], row["gpu_power_w"], row["gpu_sm_clock_mhz"]) == (55.0, 350.0, 1980.0)
    assert row["energy_reason"] is None


def test_unavailable_energy_keeps_its_reason_and_no_figures():
    row = _record(energy={"source": "unavailable", "reason": "no RAPL: /sys/class/powercap does not exist"}).row()
    assert row["energy_source"] == "unavailable" and "no RAPL" in row["energy_reason"]
    assert row["energy_j_per_token"] is None and row["gpu_power_w"] is None


def test_a_line_written_before_energy_existed_still_loads():
    data = _record().to_json()
    del data["energy"]
    record = Record.from_json(data)
    assert record.energy is None and record.row()["energy_source"] is None
