"""Specification of bench.measure.timing: cold call apart, warm-up, stopping rule, blocking, clocks."""

from __future__ import annotations

import time

import pytest
import torch

from bench.measure.timing import MAX_BLOCK_SIZE, TimingResult, choose_block_size, device_kind, time_callable

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class Counter:
    """A callable that counts its calls and sleeps `first_s` on the first call and `then_s` afterwards."""

    def __init__(self, first_s: float = 0.0, then_s: float = 0.0) -> None:
        self.calls = 0
        self.first_s = first_s
        self.then_s = then_s

    def __call__(self) -> None:
        self.calls += 1
        delay = self.first_s if self.calls == 1 else self.then_s
        if delay:
            time.sleep(delay)


def test_cold_call_is_timed_separately_before_warmup():
    fn = Counter(first_s=0.05, then_s=0.002)
    result = time_callable(fn, device="cpu", warmup=2, min_repeats=3, max_repeats=3, budget_s=0.0)
    assert result.cold_s >= 0.05
    assert max(result.samples_s) < 0.05
    assert fn.calls == 1 + 2 + len(result.samples_s) * result.block_size


def test_min_repeats_is_honoured_when_the_budget_is_already_spent():
    fn = Counter(then_s=0.001)
    result = time_callable(fn, device="cpu", warmup=0, min_repeats=7, max_repeats=100, budget_s=0.0)
    assert len(result.samples_s) == 7


def test_the_whole_measurement_cold_call_and_warm_up_included_stays_within_the_budget():
    fn = Counter(first_s=0.02, then_s=0.01)
    budget = 0.2
    started = time.perf_counter()
    result = time_callable(fn, device="cpu", warmup=2, min_repeats=2, max_repeats=10_000, budget_s=budget)
    took = time.perf_counter() - started
    timed = sum(result.samples_s) * result.block_size
    assert took <= budget + 0.015  # not a block past it (the old rule took cold + warm-up = 0.04 s more)
    assert result.cold_s + 2 * 0.01 + timed >= budget - 2 * 0.011 * result.block_size  # stops at most ~a block early
    assert len(result.samples_s) >= 2


def test_max_repeats_stops_the_loop_even_with_budget_left():
    fn = Counter(then_s=0.001)
    start = time.perf_counter()
    result = time_callable(fn, device="cpu", warmup=0, min_repeats=3, max_repeats=5, budget_s=100.0)
    assert len(result.samples_s) == 5
    assert time.perf_counter() - start < 5.0


def test_very_short_calls_are_timed_in_blocks_with_per_call_samples():
    fn = Counter()
    result = time_callable(fn, device="cpu", warmup=3, min_repeats=4, max_repeats=4, budget_s=0.0)
    assert result.block_size > 1
    assert fn.calls == 1 + 3 + 4 * result.block_size
    assert all(0 < s < 1e-3 for s in result.samples_s)


def test_slow_calls_are_timed_one_per_sample():
    result = time_callable(Counter(then_s=0.002), device="cpu", warmup=1, min_repeats=2, max_repeats=2,
                           budget_s=0.0)
    assert result.block_size == 1


def test_block_size_targets_the_device_minimum_and_is_capped():
    assert choose_block_size(1.0, "cpu") == 1
    assert choose_block_size(10e-6, "cpu") == 5
    assert choose_block_size(10e-6, "cuda") == 100
    assert choose_block_size(1e-12, "cuda") == MAX_BLOCK_SIZE
    assert choose_block_size(0.0, "cpu") == MAX_BLOCK_SIZE


def test_result_records_clock_and_raw_samples_on_cpu():
    result = time_callable(Counter(then_s=0.001), device="cpu", warmup=0, min_repeats=3, max_repeats=3,
                           budget_s=0.0)
    assert isinstance(result, TimingResult)
    assert result.timer == "perf_counter"
    assert len(result.samples_s) == 3 and all(s > 0 for s in result.samples_s)


@pytest.mark.parametrize("kwargs", [
    {"warmup": -1, "min_repeats": 1, "max_repeats": 1, "budget_s": 0.0},
    {"warmup": 0, "min_repeats": 0, "max_repeats": 1, "budget_s": 0.0},
    {"warmup": 0, "min_repeats": 3, "max_repeats": 2, "budget_s": 0.0},
    {"warmup": 0, "min_repeats": 1, "max_repeats": 1, "budget_s": -1.0},
])
def test_invalid_policies_are_rejected(kwargs):
    with pytest.raises(ValueError, match="min_repeats"):
        time_callable(Counter(), device="cpu", **kwargs)


def test_unknown_devices_are_rejected():
    with pytest.raises(ValueError, match="unsupported device"):
        device_kind("meta")


@pytest.mark.cuda
@cuda
def test_cuda_blocks_are_timed_with_events():
    a = torch.randn(1024, 1024, device="cuda")
    result = time_callable(lambda: a @ a, device="cuda", warmup=2, min_repeats=5, max_repeats=50,
                           budget_s=0.05)
    assert result.timer == "cuda_event"
    assert len(result.samples_s) >= 5 and all(s > 0 for s in result.samples_s)
