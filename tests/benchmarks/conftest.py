"""pytest-benchmark set-up for the model benchmarks: device choice and cheap untimed default runs.

Plain `pytest` runs each benchmark body once, untimed (a smoke test that keeps CI fast). Timing starts
only when a benchmarking option asks for it (--benchmark-only, --benchmark-enable, --benchmark-save,
--benchmark-autosave, --benchmark-json, --benchmark-compare, --benchmark-compare-fail or
--benchmark-histogram); --benchmark-skip skips them as usual. The device comes from ATTNBENCH_DEVICE
(cpu by default, or cuda).
"""

from __future__ import annotations

import os

import pytest
import torch

DEVICE_VARIABLE = "ATTNBENCH_DEVICE"
REQUESTING_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_save", "benchmark_autosave",
                      "benchmark_json", "benchmark_compare", "benchmark_compare_fail", "benchmark_histogram")


def benchmarking_requested(config: pytest.Config) -> bool:
    """Whether the command line asked pytest-benchmark to measure (not just to run the bodies once)."""
    return any(config.getoption(name, default=None) for name in REQUESTING_OPTIONS)


def selected_device() -> str:
    """The device named by ATTNBENCH_DEVICE (default cpu); a bad value is a usage error naming the fix."""
    device = os.environ.get(DEVICE_VARIABLE, "cpu").strip().lower() or "cpu"
    if device not in ("cpu", "cuda"):
        raise pytest.UsageError(f"{DEVICE_VARIABLE}={device!r}: use cpu or cuda")
    return device


@pytest.fixture(scope="session")
def device() -> str:
    """The benchmark device; CUDA benchmarks skip cleanly on a machine without a GPU."""
    device = selected_device()
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"{DEVICE_VARIABLE}=cuda but torch sees no CUDA device")
    return device


@pytest.fixture
def benchmark(benchmark, request):
    """pytest-benchmark's fixture, switched to a single untimed call unless benchmarking was requested."""
    if not benchmarking_requested(request.config):
        benchmark.disabled = True
    return benchmark


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record the device, torch build and GPU in saved runs, so --benchmark-compare warns across them."""
    device = os.environ.get(DEVICE_VARIABLE, "cpu")
    machine_info["attnbench_device"] = device
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    if device == "cuda" and torch.cuda.is_available():
        machine_info["gpu"] = torch.cuda.get_device_name()
