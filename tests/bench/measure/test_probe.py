"""bench.measure.probe.gemm_rate: the machine's matmul rate at a sweep's width, measured like a configuration."""

from __future__ import annotations

import statistics

import pytest
import torch

from bench.measure import probe
from bench.measure.probe import gemm_rate
from bench.measure.timing import TimingResult
from bench.results.identity import ProbeSpec

SPEC = ProbeSpec("cpu", "float32", 64, threads=1)


@pytest.fixture
def two_threads():
    """torch set to 2 threads for the test (so a probe at 1 thread has something to restore), then reset."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def fake_timer(samples: list[float]):
    def time_callable(fn, **kwargs):
        fn()
        return TimingResult(samples_s=list(samples), cold_s=samples[0], timer="fake", block_size=1)

    return time_callable


def test_the_cpu_probe_times_a_4096_row_gemm_at_the_spec_width_on_its_threads(two_threads):
    result = gemm_rate(SPEC, budget_s=0.02)
    assert result["rows"] == 4096
    assert result["flops"] == 2 * 4096 * 64 * 64
    assert len(result["samples_s"]) >= 5 and all(s > 0 for s in result["samples_s"])
    assert result["threads_used"] == 1
    assert torch.get_num_threads() == two_threads
    assert {k: result[k] for k in ("device", "dtype", "d_model", "threads")} == SPEC.to_dict()
    # The rate is the FLOPs over a middle sample (exactly the median when the count is odd).
    ordered = sorted(result["samples_s"])
    middle = ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]
    assert middle[0] * (1 - 1e-12) <= result["flops"] / result["flops_per_s"] <= middle[1] * (1 + 1e-12)


def test_the_rate_is_the_flops_over_the_median_of_an_odd_number_of_samples(monkeypatch):
    monkeypatch.setattr(probe, "time_callable", fake_timer([3e-4, 1e-4, 2e-4]))
    result = gemm_rate(SPEC)
    assert result["samples_s"] == [3e-4, 1e-4, 2e-4]
    assert result["flops_per_s"] == pytest.approx(2 * 4096 * 64 * 64 / 2e-4, rel=1e-12)


def test_the_rate_is_the_flops_over_the_median_of_an_even_number_of_samples(monkeypatch):
    samples = [4e-4, 1e-4, 3e-4, 2e-4]
    monkeypatch.setattr(probe, "time_callable", fake_timer(samples))
    result = gemm_rate(SPEC)
    assert result["flops_per_s"] == pytest.approx(2 * 4096 * 64 * 64 / statistics.median(samples), rel=1e-12)


def test_a_probe_without_threads_runs_on_torchs_current_count(two_threads):
    result = gemm_rate(ProbeSpec("cpu", "float32", 32), budget_s=0.0)
    assert result["threads"] is None and result["threads_used"] == two_threads
    assert result["flops"] == 2 * 4096 * 32 * 32


def test_the_thread_count_is_restored_even_when_the_probe_fails(two_threads):
    with pytest.raises(AttributeError):
        gemm_rate(ProbeSpec("cpu", "no_such_dtype", 64, threads=1), budget_s=0.0)
    assert torch.get_num_threads() == two_threads
