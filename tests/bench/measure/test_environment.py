"""Specification of bench.measure.environment: a complete, JSON-able, quick fingerprint with a stable id."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
import torch

import bench.measure.environment as environment
from bench.measure.environment import fingerprint
from bench.results.identity import FINGERPRINT_KEYS, ID_FIELDS, fingerprint_id, hardware_key


def test_fingerprint_has_exactly_the_documented_keys_and_is_json():
    fp = fingerprint()
    assert tuple(fp) == FINGERPRINT_KEYS
    assert json.loads(json.dumps(fp)) == fp


def test_fingerprint_reports_this_process_software_and_cpu():
    fp = fingerprint()
    assert fp["torch_version"] == torch.__version__
    assert fp["packages"]["torch"] is not None
    assert set(fp["packages"]) == set(environment.PACKAGES)
    assert fp["torch_threads"] == torch.get_num_threads()
    assert fp["cpu_model"] and fp["cpu_logical_cores"] >= 1
    assert fp["python_version"].count(".") == 2


def test_gpu_fields_are_empty_without_a_gpu_and_filled_with_one():
    fp = fingerprint()
    if torch.cuda.is_available():
        assert fp["gpu_name"] and fp["gpu_count"] >= 1 and fp["gpu_memory_bytes"] > 0
    else:
        assert fp["gpu_name"] is None and fp["gpu_count"] == 0


def test_git_commit_and_dirty_flag_of_this_repository():
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=environment.REPO_DIR, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git cannot read this checkout here")
    fp = fingerprint()
    assert fp["git_commit"] == head
    assert isinstance(fp["git_dirty"], bool)


def test_git_state_is_none_outside_a_repository(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "REPO_DIR", tmp_path)
    monkeypatch.delenv("ATTNBENCH_GIT_COMMIT", raising=False)
    environment.git_state.cache_clear()
    try:
        assert environment.git_state() == (None, None)
    finally:
        environment.git_state.cache_clear()


def test_a_copy_outside_git_records_the_commit_it_is_given(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "REPO_DIR", tmp_path)
    monkeypatch.setenv("ATTNBENCH_GIT_COMMIT", " 0123abcd \n")
    environment.git_state.cache_clear()
    try:
        assert environment.git_state() == ("0123abcd", None)
    finally:
        environment.git_state.cache_clear()


def test_fingerprint_id_is_stable_and_ignores_volatile_fields():
    first = fingerprint()
    time.sleep(0.01)
    second = fingerprint()
    assert first["timestamp"] != second["timestamp"]
    assert fingerprint_id(first) == fingerprint_id(second)
    volatile = {**first, "torch_threads": 99, "git_commit": "0" * 40, "git_dirty": True, "hostname_hash": "x",
                "cudnn_version": "x"}
    assert fingerprint_id(volatile) == fingerprint_id(first)
    assert re.fullmatch(r"[0-9a-f]{12}", fingerprint_id(first))


def test_fingerprint_id_changes_with_every_identifying_field():
    fp = fingerprint()
    for field in ID_FIELDS:
        assert fingerprint_id({**fp, field: "something else"}) != fingerprint_id(fp), field


def test_hardware_key_names_the_gpu_or_the_cpu():
    cpu_only = {"gpu_name": None, "cpu_model": "AMD EPYC", "cpu_logical_cores": 16}
    with_gpu = {**cpu_only, "gpu_name": "NVIDIA H100"}
    assert hardware_key(cpu_only) == "cpu:AMD EPYC x16"
    assert hardware_key(with_gpu) == "gpu:NVIDIA H100"
    assert hardware_key(with_gpu, device="cpu") == "cpu:AMD EPYC x16"


def test_fingerprint_is_quick_even_uncached():
    environment.git_state.cache_clear()
    environment._static_facts.cache_clear()
    start = time.perf_counter()
    fingerprint()
    assert time.perf_counter() - start < 1.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fingerprint_does_not_initialise_cuda_so_the_caller_can_still_fork():
    code = ("import torch, bench.measure.environment as e; fp = e.fingerprint(); "
            "print(fp['gpu_name'] is not None, torch.cuda.is_initialized())")
    done = subprocess.run([sys.executable, "-c", code], cwd=environment.REPO_DIR, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["True", "False"]


def test_gpu_neighbours_counts_other_compute_processes_and_is_unknown_without_nvml(monkeypatch):
    import sys
    import types

    from bench.measure.environment import gpu_neighbours

    assert gpu_neighbours(None, set()) is None
    procs = [types.SimpleNamespace(pid=pid) for pid in (10, 11, 12)]
    fake = types.SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByUUID=lambda uuid: uuid,
                                 nvmlDeviceGetComputeRunningProcesses=lambda handle: procs)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert gpu_neighbours("GPU-1", {11}) == 2

    def broken():
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=broken))
    assert gpu_neighbours("GPU-1", set()) is None
