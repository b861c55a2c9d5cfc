"""The energy pass, after memory: the timed step's energy per call from a hardware counter (bench.measure.energy).

It runs only when `BenchConfig.energy` is true (sweeps turn it on; `[timing] energy = false` or
`--no-energy` turn it off) and only in a configuration's first replicated pass, since what it measures
does not change between passes. On CUDA the counter is NVML's total energy of the GPU this worker was
given, opened by its UUID (bench.measure.environment.visible_gpu_uuid), and each side of the window is
synchronised; on the CPU it is RAPL where readable. Without a counter the part says why and holds no
figures: energy is never estimated.

The window is `MIN_WINDOW_S` of back-to-back calls after `IDLE_S` of idle power, in batches of up to
`MIN_CALLS` calls; a call slower than MIN_WINDOW_S / MIN_CALLS gets smaller batches (its energy is far above
the counter's resolution), and a window that would take more than half the configuration's `timeout_s` is
not started, so that the energy pass never turns a measured configuration into a timeout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bench.measure import energy
from bench.measure.energy import EnergyCounter, measure_energy, nvml_counter, rapl_counter, unavailable
from bench.measure.environment import visible_gpu_uuid
from bench.measure.passes import Bench, Pass, register_pass
from bench.measure.timing import device_kind, synchronize
from bench.results.record import Energy, Part

# The window's durations (patchable: tests shorten them or drive them with a fake clock).
MIN_WINDOW_S = energy.MIN_WINDOW_S
MIN_CALLS = energy.MIN_CALLS
IDLE_S = energy.IDLE_S
clock: Callable[[], float] = time.perf_counter
sleep: Callable[[float], None] = time.sleep


def device_counter(device: str) -> tuple[EnergyCounter | None, str]:
    """The energy counter of `device` (NVML by the visible GPU's UUID, else RAPL), or None and why not."""
    if device_kind(device) == "cuda":
        uuid = visible_gpu_uuid()
        if uuid is None:
            return None, "NVML cannot name the visible GPU (no nvidia-ml-py, driver or device)"
        return nvml_counter(uuid)
    return rapl_counter()


def _batch(fn: Callable[[], object], device: str) -> tuple[int, float]:
    """Calls per batch (MIN_CALLS, fewer for slow calls) and one synchronised call's seconds."""
    synchronize(device)
    start = clock()
    fn()
    synchronize(device)
    call_s = clock() - start
    if call_s <= 0:
        return MIN_CALLS, call_s
    return max(1, min(MIN_CALLS, math.ceil(MIN_WINDOW_S / call_s))), call_s


@register_pass
class EnergyPass(Pass):
    name = "energy"
    order = 30
    every_pass = False

    def run(self, bench: Bench) -> dict[str, Part]:
        c = bench.config
        if not c.energy:
            return {}
        counter, reason = device_counter(c.device)
        if counter is None:
            return {"energy": Energy.from_json(unavailable(reason).to_dict())}
        calls, call_s = _batch(bench.step, c.device)
        expected_s = IDLE_S + max(MIN_WINDOW_S, calls * call_s)
        if expected_s > c.timeout_s / 2:
            result = unavailable(f"an energy window of about {expected_s:.3g} s would take more than half the "
                                 f"timeout ({c.timeout_s:g} s)")
        else:
            result = measure_energy(bench.step, counter, c.tokens, sync=lambda: synchronize(c.device),
                                    min_window_s=MIN_WINDOW_S, min_calls=calls, idle_s=IDLE_S, clock=clock,
                                    sleep=sleep)
        return {"energy": Energy.from_json(result.to_dict())}
