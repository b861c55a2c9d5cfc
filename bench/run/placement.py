"""Where workers run: the devices a local run spreads over, and how many configurations share one.

A `DeviceSlot` is one place a worker measures: the CPU, or one GPU given to the worker alone through
CUDA_VISIBLE_DEVICES (inside the worker that GPU is `cuda`, so a configuration's identity does not name
the device it happened to get). `--devices cuda:0,cuda:1` or `--devices all` gives one slot per GPU.

Placement policies:
- `exclusive` (the default, for numbers that go into a headline): one configuration per device at a
  time. Several devices are measured at once only when every configuration is on CUDA; CPU
  configurations would share the host's cores and memory bandwidth with each other.
- `packed` (exploration): `per_device` configurations share each device at once; faster, and every
  number it gives is measured under interference, which the report says.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.config import BenchConfig
from bench.config.executor_settings import PLACEMENTS

DEFAULT_PER_DEVICE = {"exclusive": 1, "packed": 2}


class PlacementError(ValueError):
    """The devices or placement asked for cannot be used; the message names the option and a fix."""


@dataclass(frozen=True)
class DeviceSlot:
    """One device a worker is given: its name as the user wrote it and the environment that selects it."""

    name: str
    env: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


CPU = DeviceSlot("cpu")


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries: that variable's list where it is set,
    else the indices 0..n-1 of every GPU torch sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry.strip() for entry in visible.split(",") if entry.strip() and entry.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def parse_devices(text: str | None, visible: int | Sequence[str]) -> list[DeviceSlot]:
    """The slots `--devices` names: None -> the one default device; `all` -> every visible GPU;
    `cuda:0,cuda:2` -> those GPUs, by their position in `visible` (`visible_gpus()`, or a count);
    `cpu` -> the CPU. Each GPU slot's environment gives its worker that GPU alone."""
    visible = [str(i) for i in range(visible)] if isinstance(visible, int) else list(visible)
    cuda_count = len(visible)
    if text is None or not text.strip():
        return [CPU]
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["all"]:
        if cuda_count == 0:
            raise PlacementError("--devices all: no CUDA device is visible here; leave --devices out to run on "
                                 "the CPU")
        return [_gpu(i, visible) for i in range(cuda_count)]
    if names == ["cpu"]:
        return [CPU]
    slots = []
    for name in names:
        index = name.removeprefix("cuda:")
        if not name.startswith("cuda:") or not index.isdigit():
            raise PlacementError(f"--devices: {name!r} is not a device; use cuda:N[,cuda:M...], all or cpu")
        if int(index) >= cuda_count:
            raise PlacementError(f"--devices: {name} does not exist; {cuda_count} CUDA device(s) are visible "
                                 f"(cuda:0 to cuda:{cuda_count - 1})" if cuda_count else
                                 f"--devices: {name} does not exist; no CUDA device is visible here")
        slots.append(_gpu(int(index), visible))
    if len(set(slots)) != len(slots):
        raise PlacementError(f"--devices names a device twice: {text}; use --placement packed to put several "
                             f"configurations on one device")
    return slots


def _gpu(index: int, visible: Sequence[str]) -> DeviceSlot:
    return DeviceSlot(f"cuda:{index}", {"CUDA_VISIBLE_DEVICES": visible[index]})


def per_device_count(placement: str, per_device: int | None) -> int:
    """How many configurations share one device under `placement` (`per_device` None: its default)."""
    if placement not in PLACEMENTS:
        raise PlacementError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if per_device is None:
        return DEFAULT_PER_DEVICE[placement]
    if isinstance(per_device, bool) or not isinstance(per_device, int) or per_device < 1:
        raise PlacementError(f"per_device must be a positive integer, got {per_device!r}")
    if placement == "exclusive" and per_device != 1:
        raise PlacementError(f"placement exclusive runs one configuration per device; per_device {per_device} "
                             f"needs placement packed")
    return per_device


def worker_slots(devices: Sequence[DeviceSlot], placement: str, per_device: int | None = None) -> list[DeviceSlot]:
    """One entry per concurrent worker: each device repeated as often as the placement packs it."""
    count = per_device_count(placement, per_device)
    return [device for device in devices for _ in range(count)]


def check_placement(configs: Sequence[BenchConfig], slots: Sequence[DeviceSlot], placement: str) -> None:
    """Refuse a spread that would measure under interference the placement promises to avoid."""
    if placement != "exclusive" or len(slots) < 2:
        return
    on_cpu = sum(c.device == "cpu" for c in configs)
    if on_cpu:
        raise PlacementError(f"{len(slots)} workers at once with placement exclusive, and {on_cpu} "
                             f"configuration(s) run on the CPU, which they would share; run those without "
                             f"--devices, or use --placement packed for exploration")
