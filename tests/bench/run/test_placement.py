"""bench.run.placement: which devices a local run spreads over, and how many configurations share one."""

from __future__ import annotations

import pytest

from bench.config import BenchConfig
from bench.run.placement import CPU, DeviceSlot, PlacementError, check_placement, parse_devices, worker_slots


def test_no_devices_means_the_one_default_device():
    assert parse_devices(None, visible=4) == [CPU]
    assert parse_devices("cpu", visible=0) == [CPU]


def test_all_is_every_visible_gpu_each_given_alone_to_its_worker():
    slots = parse_devices("all", visible=3)
    assert [s.name for s in slots] == ["cuda:0", "cuda:1", "cuda:2"]
    assert [s.env for s in slots] == [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(3)]


def test_listed_gpus_are_checked_against_the_visible_ones():
    assert [s.name for s in parse_devices("cuda:1, cuda:3", visible=4)] == ["cuda:1", "cuda:3"]
    with pytest.raises(PlacementError, match=r"cuda:4 does not exist; 4 CUDA device\(s\) are visible"):
        parse_devices("cuda:0,cuda:4", visible=4)
    with pytest.raises(PlacementError, match="no CUDA device is visible"):
        parse_devices("cuda:0", visible=0)
    with pytest.raises(PlacementError, match="no CUDA device is visible"):
        parse_devices("all", visible=0)


@pytest.mark.parametrize("text", ["gpu0", "cuda:x", "cuda", "cuda:-1", "all,cuda:0", "cpu,cuda:0"])
def test_a_malformed_device_is_named_with_the_accepted_forms(text):
    with pytest.raises(PlacementError, match="use cuda:N"):
        parse_devices(text, visible=2)


def test_a_device_named_twice_points_at_packed_placement():
    with pytest.raises(PlacementError, match="names a device twice.*--placement packed"):
        parse_devices("cuda:0,cuda:0", visible=2)


def test_exclusive_gives_one_worker_per_device_and_packed_several():
    gpus = parse_devices("all", visible=2)
    assert worker_slots(gpus, "exclusive") == gpus
    assert [s.name for s in worker_slots(gpus, "packed")] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert len(worker_slots([CPU], "packed", per_device=3)) == 3
    with pytest.raises(PlacementError, match="needs placement packed"):
        worker_slots(gpus, "exclusive", per_device=2)
    with pytest.raises(PlacementError, match="placement must be one of exclusive, packed"):
        worker_slots(gpus, "shared")
    with pytest.raises(PlacementError, match="positive integer"):
        worker_slots(gpus, "packed", per_device=True)


def _config(device: str) -> BenchConfig:
    return BenchConfig(model="softmax", batch=1, seq_len=8, d_model=8, n_heads=1, device=device)


def test_exclusive_placement_refuses_cpu_configurations_spread_over_several_workers():
    two = [DeviceSlot("cuda:0"), DeviceSlot("cuda:1")]
    with pytest.raises(PlacementError, match="1 configuration\\(s\\) run on the CPU"):
        check_placement([_config("cpu"), _config("cuda")], two, "exclusive")
    check_placement([_config("cuda")], two, "exclusive")
    check_placement([_config("cpu")], two, "packed")
    check_placement([_config("cpu")], [CPU], "exclusive")


def test_gpu_slots_follow_the_sessions_own_cuda_visible_devices():
    slots = parse_devices("cuda:1", visible=["GPU-aaa", "GPU-bbb"])
    assert slots[0].name == "cuda:1" and slots[0].env == {"CUDA_VISIBLE_DEVICES": "GPU-bbb"}


def test_visible_gpus_reads_cuda_visible_devices_where_it_is_set(monkeypatch):
    from bench.run.placement import visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
