"""Energy of one call from a hardware energy counter, measured in its own pass (never while timing).

What is reported
----------------
A counter is read before and after a window of back-to-back calls, synchronised on both sides; the
window lasts at least `min_window_s` and `min_calls` calls, so that a counter updated every 20-100 ms
(NVML) advances many times. Just before, the same counter over `idle_s` with nothing running gives the
idle power. Gross energy per call is the window's energy over its calls; net subtracts idle power times
the window; per token divides by the call's tokens (batch x seq_len).

Sources: NVML's total-energy counter of the device (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the
driver loaded; Volta and newer), opened by the device's UUID so that remapped device indices cannot
point at another GPU; on the CPU, Linux RAPL package counters (`/sys/class/powercap/intel-rapl:N/
energy_uj`, which wrap at `max_energy_range_uj` and are usually readable by root only). Where no counter
is readable the result says why and every energy figure is None: energy is never estimated from a TDP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

RAPL_ROOT = Path("/sys/class/powercap")
MIN_WINDOW_S = 5.0
MIN_CALLS = 10
IDLE_S = 2.0


class EnergyCounter:
    """A monotonic energy counter in joules that may wrap at `wrap_j` (None: it never wraps)."""

    source = ""
    wrap_j: float | None = None

    def read(self) -> float:
        """The counter's value now, in joules."""
        raise NotImplementedError

    def since(self, start: float, end: float) -> float:
        """Energy between two readings, one wrap-around allowed."""
        delta = end - start
        if delta < 0 and self.wrap_j is not None:
            delta += self.wrap_j
        return delta

    def conditions(self) -> dict[str, float | None]:
        """Clocks, temperature and power the counter's device reports now (empty where it reports none)."""
        return {}


class NvmlCounter(EnergyCounter):
    """NVML's total-energy counter of one GPU, opened by UUID."""

    source = "nvml_counter"

    def __init__(self, pynvml, handle) -> None:
        self._nvml, self._handle = pynvml, handle

    def read(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0

    def conditions(self) -> dict[str, float | None]:
        nvml, handle = self._nvml, self._handle

        def guarded(fn: Callable[[], float]) -> float | None:
            try:
                return float(fn())
            except Exception:  # noqa: BLE001 - any NVML failure leaves that one field empty
                return None

        return {"sm_clock_mhz": guarded(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
                "memory_clock_mhz": guarded(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
                "temperature_c": guarded(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
                "power_w": guarded(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)}


class RaplCounter(EnergyCounter):
    """The sum of Linux RAPL package-domain counters (one per socket), each wrapping on its own."""

    source = "rapl"

    def __init__(self, domains: list[Path]) -> None:
        self._domains = domains
        self._ranges = [int((d / "max_energy_range_uj").read_text()) / 1e6 for d in domains]
        self._last: list[float] | None = None
        self._total = 0.0

    def _values(self) -> list[float]:
        return [int((d / "energy_uj").read_text()) / 1e6 for d in self._domains]

    def read(self) -> float:
        """Joules since the first read, each domain's wrap-arounds between reads unrolled."""
        values = self._values()
        if self._last is None:
            self._last = values
        for i, (before, now) in enumerate(zip(self._last, values, strict=True)):
            self._total += now - before if now >= before else now - before + self._ranges[i]
        self._last = values
        return self._total


def nvml_counter(uuid: str) -> tuple[EnergyCounter | None, str]:
    """NVML's energy counter for the GPU with this UUID, or None and why it is not available."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # noqa: BLE001 - NVML raises a family of errors; each means "no counter"
        return None, f"NVML energy counter unavailable: {type(exc).__name__}: {exc}"
    return NvmlCounter(pynvml, handle), ""


def rapl_counter(root: Path = RAPL_ROOT) -> tuple[EnergyCounter | None, str]:
    """The CPU package RAPL counters under `root`, or None and why they cannot be read."""
    if not root.is_dir():
        return None, f"no RAPL: {root} does not exist (common on VMs)"
    domains = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    if not domains:
        return None, f"no RAPL package domains under {root}"
    try:
        counter = RaplCounter(domains)
        counter.read()
    except (OSError, ValueError) as exc:
        return None, f"RAPL not readable ({exc}); energy_uj is usually root-only"
    return counter, ""


@dataclass(frozen=True)
class EnergyResult:
    """One configuration's energy pass; every figure None when `source` is "unavailable" (see `reason`)."""

    source: str
    reason: str = ""
    window_s: float | None = None
    calls: int | None = None
    idle_w: float | None = None
    gross_j_per_call: float | None = None
    net_j_per_call: float | None = None
    gross_j_per_token: float | None = None
    net_j_per_token: float | None = None
    before: dict | None = None
    after: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def unavailable(reason: str) -> EnergyResult:
    """A result with no figures and the reason there are none."""
    return EnergyResult("unavailable", reason)


def measure_energy(fn: Callable[[], object], counter: EnergyCounter | None, tokens: int, *,
                   sync: Callable[[], None] = lambda: None, reason: str = "", min_window_s: float = MIN_WINDOW_S,
                   min_calls: int = MIN_CALLS, idle_s: float = IDLE_S, clock: Callable[[], float] = time.perf_counter,
                   sleep: Callable[[float], None] = time.sleep) -> EnergyResult:
    """Idle power over `idle_s`, then batches of `min_calls` calls of `fn` until `min_window_s` has passed.

    A window in which the counter did not advance (shorter than its update period, or a frozen counter)
    gives "unavailable" with that reason rather than zero joules.
    """
    if counter is None:
        return unavailable(reason or "no energy counter")
    sync()
    idle_start, idle_t0 = counter.read(), clock()
    sleep(idle_s)
    idle_j, idle_t = counter.since(idle_start, counter.read()), clock() - idle_t0
    idle_w = idle_j / idle_t if idle_t > 0 else None
    before = counter.conditions()
    sync()
    start, t0, calls = counter.read(), clock(), 0
    while calls == 0 or clock() - t0 < min_window_s:  # batches of min_calls, synchronised, so a device
        for _ in range(min_calls):                    # queue never runs far past the clock's check
            fn()
        calls += min_calls
        sync()
    window, energy = clock() - t0, counter.since(start, counter.read())
    after = counter.conditions()
    if energy <= 0:
        return unavailable(f"the {counter.source} counter did not advance over a {window:.3g} s window of "
                           f"{calls} calls (shorter than its update period?)")
    gross = energy / calls
    net = (energy - idle_w * window) / calls if idle_w is not None else None
    return EnergyResult(counter.source, "", window, calls, idle_w, gross, net, gross / tokens,
                        None if net is None else net / tokens, before, after)
