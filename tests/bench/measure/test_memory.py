"""Specification of bench.measure.memory: peak above baseline, weights and inputs apart, methods named."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import bench.measure.memory as memory
from bench.measure.memory import MEMORY_KEYS, measure_memory, tensor_bytes

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
MiB = 2**20


def allocate(nbytes: int, hold_s: float = 0.0, device: str = "cpu"):
    """A call that allocates and fills `nbytes` (float32), optionally holding them for `hold_s`."""
    def fn() -> None:
        t = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
        if hold_s:
            time.sleep(hold_s)
        del t

    return fn


def test_known_cpu_allocation_is_measured_within_5_percent():
    result = measure_memory(allocate(64 * MiB), device="cpu")
    assert result["method"] == "linux_vmhwm"
    assert result["peak_bytes"] == pytest.approx(64 * MiB, rel=0.05)


HEAP_REUSE_SCENARIO = """
import ctypes, ctypes.util, json
from bench.measure.memory import measure_memory
MiB = 2 ** 20
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def touch(nbytes):
    pointer = libc.malloc(nbytes)
    ctypes.memset(pointer, 1, nbytes)
    return pointer

libc.free(touch(30 * MiB))
block, pin = touch(16 * MiB), touch(4096)
libc.free(block)
print(json.dumps(measure_memory(lambda: libc.free(touch(16 * MiB)), device="cpu")))
"""


@pytest.mark.skipif(not memory.malloc_trim(), reason="needs glibc")
def test_heap_pages_freed_earlier_in_a_reused_process_still_count_when_reused():
    # Freeing a large mmapped block raises glibc's mmap threshold; the next 16 MiB block then lives on
    # the heap, and once freed (below a live block) its pages stay resident: without malloc_trim the
    # measured call would reuse them and look free. The scenario runs in a fresh interpreter because
    # it needs a known heap: what earlier tests left in this process's arenas changes where blocks land.
    done = subprocess.run([sys.executable, "-c", HEAP_REUSE_SCENARIO], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[3])
    result = json.loads(done.stdout)
    assert result["peak_bytes"] == pytest.approx(16 * MiB, rel=0.05)


def test_weights_and_inputs_are_sized_but_excluded_from_the_peak():
    weights = torch.ones(8 * MiB // 4)
    x = torch.ones(4 * MiB // 4)
    result = measure_memory(lambda: x.sum(), device="cpu", weights=[weights, weights], inputs=[x])
    assert result["weights_bytes"] == 8 * MiB
    assert result["inputs_bytes"] == 4 * MiB
    assert result["peak_bytes"] < 2 * MiB


def test_result_has_exactly_the_documented_keys_and_no_cuda_values_on_cpu():
    result = measure_memory(lambda: None, device="cpu")
    assert tuple(result) == MEMORY_KEYS
    for key in ("cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes", "nvml_process_bytes",
                "nvml_device_used_bytes"):
        assert result[key] is None


def test_sampling_fallback_is_used_and_named_when_clear_refs_is_not_writable(monkeypatch):
    monkeypatch.setattr(memory, "_CLEAR_REFS", "/nonexistent-dir/clear_refs")
    result = measure_memory(allocate(64 * MiB, hold_s=0.05), device="cpu")
    assert result["method"] == "psutil_rss_sampling"
    # The sampler reads RSS every millisecond; 10 % leaves room for the baseline moving between samples.
    assert result["peak_bytes"] == pytest.approx(64 * MiB, rel=0.10)


def test_tensor_bytes_counts_each_distinct_tensor_once():
    a = torch.zeros(10, dtype=torch.float64)
    b = torch.zeros(3, dtype=torch.bfloat16)
    assert tensor_bytes([a, b, a]) == 80 + 6
    assert tensor_bytes([]) == 0


@pytest.mark.cuda
@cuda
def test_known_cuda_allocation_is_measured_exactly_by_the_allocator():
    result = measure_memory(allocate(256 * MiB, device="cuda"), device="cuda")
    assert result["method"] == "cuda_max_memory_allocated"
    assert result["peak_bytes"] == pytest.approx(256 * MiB, rel=0.01)
    assert result["cuda_peak_reserved_bytes"] >= result["peak_bytes"]
