"""The budget predictor extrapolates each series and skips what would not fit, saying why."""

from __future__ import annotations

from bench.config import BenchConfig
from bench.results.record import Record
from bench.run.budget import BudgetPredictor


def _config(seq_len: int, batch: int = 1, model: str = "softmax") -> BenchConfig:
    return BenchConfig(model=model, batch=batch, seq_len=seq_len, d_model=32, n_heads=4)


def _ok(seq_len: int, time_s: float, peak: float | None = None, batch: int = 1, model: str = "softmax") -> Record:
    return Record(config=_config(seq_len, batch, model), status="ok",
                  timing={"samples_s": [time_s] * 3}, memory={"peak_bytes": peak})


def test_nothing_is_predicted_without_a_shorter_measured_point():
    assert BudgetPredictor(max_call_s=1.0).check(_config(1024)) is None


def test_quadratic_growth_is_extrapolated_from_the_two_largest_points():
    predictor = BudgetPredictor(max_call_s=1.0)
    predictor.observe(_ok(256, 0.01))
    predictor.observe(_ok(512, 0.04))
    time_s, _ = predictor.predict(_config(2048))
    assert abs(time_s - 0.64) < 1e-9
    assert predictor.check(_config(1024)) is None
    skip = predictor.check(_config(4096))
    assert skip is not None and "exceeds the budget" in skip.reason and skip.time_s > 1.0


def test_growth_is_never_assumed_slower_than_linear_per_sequence():
    predictor = BudgetPredictor()
    predictor.observe(_ok(256, 0.02))
    predictor.observe(_ok(512, 0.02))
    time_s, _ = predictor.predict(_config(1024))
    assert abs(time_s - 0.04) < 1e-9


def test_tokens_coupled_series_are_modelled_per_sequence():
    predictor = BudgetPredictor()
    predictor.observe(_ok(256, 0.04, batch=8))
    predictor.observe(_ok(512, 0.08, batch=4))
    time_s, _ = predictor.predict(_config(1024, batch=2))
    assert abs(time_s - 0.16) < 1e-9


def test_memory_budget_skips_with_the_predicted_peak():
    predictor = BudgetPredictor(max_memory_bytes=10_000)
    predictor.observe(_ok(256, 0.01, peak=1_000))
    predictor.observe(_ok(512, 0.01, peak=4_000))
    skip = predictor.check(_config(1024))
    assert skip is not None and skip.peak_bytes == 16_000 and "activation peak" in skip.reason


def test_a_failure_skips_longer_sequences_of_the_same_series_only():
    predictor = BudgetPredictor()
    predictor.observe(Record(config=_config(2048), status="oom", error="out of memory"))
    assert "ended oom" in predictor.check(_config(4096)).reason
    assert predictor.check(_config(1024)) is None
    assert predictor.check(_config(4096, model="linear")) is None


def test_whole_measurement_longer_than_the_timeout_is_skipped():
    predictor = BudgetPredictor()
    predictor.observe(_ok(256, 10.0))
    predictor.observe(_ok(512, 40.0))
    skip = predictor.check(_config(1024))
    assert skip is not None and "timeout" in skip.reason


def test_a_larger_batch_is_predicted_from_the_same_length_at_a_smaller_batch():
    predictor = BudgetPredictor()
    predictor.observe(_ok(256, 0.01))
    predictor.observe(_ok(1024, 0.05))
    time_s, _ = predictor.predict(_config(1024, batch=4))
    assert abs(time_s - 0.2) < 1e-9
