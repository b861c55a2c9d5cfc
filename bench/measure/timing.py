"""Timing one callable: cold call, warm-up, then repeats until a sample-count AND a time budget are met.

Methodology
-----------
1. Cold call: the very first call is timed on its own (wall clock, device synchronised before and after),
   before any warm-up, so one-off costs (lazy initialisation, allocator growth, kernel selection) are
   reported as `cold_s` and kept out of the steady-state samples.
2. Warm-up: `warmup` further calls, each timed roughly; their minimum (or the cold time when there is
   no warm-up) estimates the steady-state cost of one call.
3. Blocking: calls much shorter than the clock's useful resolution are timed in blocks of `k` calls and
   each block yields one per-call sample `block_time / k` (`block_size = k`). A block targets at least
   1 ms on CUDA (event resolution, launch/sync overhead) and 50 us on CPU; `k` is capped at 1000.
4. Stopping rule: `budget_s` is the wall time of the whole measurement, cold call and warm-up included.
   Blocks are repeated until at least `min_repeats` samples exist and one more block (as long as the
   last) would end past the budget; it stops early only at `max_repeats` samples. So a measurement
   lasts at most `budget_s` once its minimum is met, never a call longer. Every raw sample is kept
   (seconds per call); summarising is left to `bench.results.stats`.

Clocks: on CPU `time.perf_counter`. On CUDA a pair of `torch.cuda.Event(enable_timing=True)` brackets
each block, with one synchronisation per block (not per call); the device is synchronised before any
host clock is read, so queued work is never missed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

MAX_BLOCK_SIZE = 1000
MIN_BLOCK_S = {"cpu": 50e-6, "cuda": 1e-3}


@dataclass(frozen=True)
class TimingResult:
    """Raw per-call samples (seconds), the separate cold first call, the clock used and calls per sample."""

    samples_s: list[float]
    cold_s: float
    timer: str
    block_size: int


def device_kind(device: str) -> str:
    """`cpu` or `cuda` for a device string such as `cpu`, `cuda` or `cuda:1`; anything else is an error."""
    kind = torch.device(device).type
    if kind not in MIN_BLOCK_S:
        raise ValueError(f"unsupported device {device!r}: use cpu or cuda[:index]")
    return kind


def synchronize(device: str) -> None:
    """Wait for all queued work on `device` (a no-op on CPU)."""
    if device_kind(device) == "cuda":
        torch.cuda.synchronize(torch.device(device))


def _wall_call(fn: Callable[[], object], device: str) -> float:
    """Seconds one call takes by the host clock, device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def choose_block_size(estimate_s: float, device: str) -> int:
    """Calls per timed block so that a block lasts at least the device's minimum block time."""
    target = MIN_BLOCK_S[device_kind(device)]
    if not estimate_s > 0:
        return MAX_BLOCK_SIZE
    return max(1, min(MAX_BLOCK_SIZE, math.ceil(target / estimate_s)))


def _cpu_block(fn: Callable[[], object], k: int) -> float:
    start = time.perf_counter()
    for _ in range(k):
        fn()
    return time.perf_counter() - start


def _cuda_block(fn: Callable[[], object], k: int) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(k):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000.0


def time_callable(fn: Callable[[], object], *, device: str, warmup: int, min_repeats: int,
                  max_repeats: int, budget_s: float) -> TimingResult:
    """Time `fn()` on `device`: cold call, warm-up, then blocks until min_repeats are taken and the next
    block would end past budget_s (counted from before the cold call).

    Stops at max_repeats samples even if the budget is not spent. Each sample is seconds per call.
    """
    kind = device_kind(device)
    if warmup < 0 or min_repeats < 1 or max_repeats < min_repeats or not budget_s >= 0:
        raise ValueError(f"need warmup >= 0, 1 <= min_repeats <= max_repeats and budget_s >= 0; got "
                         f"warmup={warmup}, min_repeats={min_repeats}, max_repeats={max_repeats}, "
                         f"budget_s={budget_s}")
    synchronize(device)
    started = time.perf_counter()
    cold_s = _wall_call(fn, device)
    warm = [_wall_call(fn, device) for _ in range(warmup)]
    block_size = choose_block_size(min(warm) if warm else cold_s, device)

    samples: list[float] = []
    synchronize(device)
    while len(samples) < max_repeats:
        if kind == "cuda":
            with torch.cuda.device(torch.device(device)):
                block_s = _cuda_block(fn, block_size)
        else:
            block_s = _cpu_block(fn, block_size)
        samples.append(block_s / block_size)
        elapsed = time.perf_counter() - started
        if len(samples) >= min_repeats and elapsed + block_s >= budget_s:
            break
    timer = "cuda_event" if kind == "cuda" else "perf_counter"
    return TimingResult(samples_s=samples, cold_s=cold_s, timer=timer, block_size=block_size)
