"""bench.measure.energy: windows over mocked NVML counters and fake RAPL files, never a guessed figure."""

from __future__ import annotations

import sys
import types

import pytest

from bench.measure import energy
from bench.measure.energy import EnergyCounter, measure_energy, nvml_counter, rapl_counter


class FakeClock:
    """Time that moves only when a call or a sleep says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SteppedCounter(EnergyCounter):
    """A counter integrating `watts` over the fake time, updated only every `period_s` (as NVML's is, every
    20-100 ms), optionally wrapping at `wrap_j`."""

    source = "fake"

    def __init__(self, clock: FakeClock, watts: float, period_s: float = 0.0, wrap_j: float | None = None,
                 start_j: float = 0.0) -> None:
        self.clock, self.watts, self.period_s, self.wrap_j = clock, watts, period_s, wrap_j
        self.base_t, self.base_j = 0.0, start_j

    def set_watts(self, watts: float) -> None:
        self.base_j, self.base_t, self.watts = self._at(self.clock.now), self.clock.now, watts

    def _at(self, t: float) -> float:
        return self.base_j + self.watts * (t - self.base_t)

    def read(self) -> float:
        t = self.clock.now if not self.period_s else (self.clock.now // self.period_s) * self.period_s
        value = self._at(max(t, self.base_t))
        return value % self.wrap_j if self.wrap_j else value


def _measure(counter, clock, call_s, watts_busy=None, **kwargs):
    def call():
        if watts_busy is not None and counter.watts != watts_busy:
            counter.set_watts(watts_busy)
        clock.now += call_s
    kwargs = {"min_window_s": 5.0, "min_calls": 10, "idle_s": 2.0, **kwargs}
    return measure_energy(call, counter, tokens=4096, clock=clock, sleep=clock.sleep, **kwargs)


def test_a_steady_counter_gives_gross_and_net_energy_per_call_and_per_token():
    clock = FakeClock()
    counter = SteppedCounter(clock, watts=50.0)
    result = _measure(counter, clock, call_s=0.01, watts_busy=350.0)
    assert result.source == "fake" and result.calls >= 500 and result.window_s >= 5.0
    assert result.idle_w == pytest.approx(50.0)
    assert result.gross_j_per_call == pytest.approx(3.5)       # 350 W x 10 ms
    assert result.net_j_per_call == pytest.approx(3.0)         # (350 - 50) W x 10 ms
    assert result.gross_j_per_token == pytest.approx(3.5 / 4096)
    assert result.net_j_per_token == pytest.approx(3.0 / 4096)


def test_the_window_covers_at_least_min_calls_even_when_calls_are_slow():
    clock = FakeClock()
    result = _measure(SteppedCounter(clock, watts=100.0), clock, call_s=2.0)
    assert result.calls == 10 and result.window_s == pytest.approx(20.0)


def test_a_window_shorter_than_the_counters_update_period_is_unavailable_not_zero():
    clock = FakeClock()
    counter = SteppedCounter(clock, watts=300.0, period_s=10.0)  # updates at t = 0, 10, 20, ...
    result = _measure(counter, clock, call_s=0.001, min_window_s=0.05, idle_s=0.5)
    assert result.source == "unavailable" and "did not advance" in result.reason
    assert result.gross_j_per_call is None and result.net_j_per_token is None


def test_one_wrap_around_of_the_counter_inside_the_window_is_unrolled():
    clock = FakeClock()
    counter = SteppedCounter(clock, watts=100.0, wrap_j=1000.0, start_j=900.0)  # wraps after 1 s
    result = _measure(counter, clock, call_s=0.01, min_window_s=5.0, idle_s=0.5)
    assert result.gross_j_per_call == pytest.approx(1.0)


def test_no_counter_means_every_figure_is_none_with_the_reason():
    result = measure_energy(lambda: None, None, 10, reason="no RAPL: /x does not exist")
    assert result.source == "unavailable" and result.reason == "no RAPL: /x does not exist"
    assert all(value is None for key, value in result.to_dict().items() if key not in ("source", "reason"))


def _rapl(tmp_path, values, ranges):
    for i, (value, top) in enumerate(zip(values, ranges, strict=True)):
        domain = tmp_path / f"intel-rapl:{i}"
        (domain / f"intel-rapl:{i}:0").mkdir(parents=True, exist_ok=True)  # a sub-domain, not summed
        (domain / "energy_uj").write_text(f"{value}\n")
        (domain / "max_energy_range_uj").write_text(f"{top}\n")


def test_rapl_sums_package_domains_and_unrolls_each_domains_wrap(tmp_path):
    _rapl(tmp_path, [999_000_000, 5_000_000], [1_000_000_000, 1_000_000_000])
    counter, reason = rapl_counter(tmp_path)
    assert reason == "" and counter.source == "rapl" and counter.read() == 0.0
    _rapl(tmp_path, [1_000_000, 7_000_000], [1_000_000_000, 1_000_000_000])  # package 0 wrapped
    assert counter.read() == pytest.approx(2.0 + 2.0)


def test_rapl_missing_or_unreadable_says_why(tmp_path):
    assert rapl_counter(tmp_path / "absent")[0] is None
    assert "does not exist" in rapl_counter(tmp_path / "absent")[1]
    assert "no RAPL package domains" in rapl_counter(tmp_path)[1]
    (tmp_path / "intel-rapl:0").mkdir()
    counter, reason = rapl_counter(tmp_path)
    assert counter is None and "root-only" in reason


def _fake_pynvml(monkeypatch, energy_mj, fail_init=False):
    module = types.SimpleNamespace(NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2, NVML_TEMPERATURE_GPU=0)

    class NVMLError(Exception):
        pass

    def init():
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    module.nvmlInit = init
    module.nvmlDeviceGetHandleByUUID = lambda uuid: ("handle", uuid)
    module.nvmlDeviceGetTotalEnergyConsumption = lambda handle: next(energy_mj)
    module.nvmlDeviceGetClockInfo = lambda handle, which: 1980 if which == 1 else 2619
    module.nvmlDeviceGetTemperature = lambda handle, which: 41
    module.nvmlDeviceGetPowerUsage = lambda handle: 120_500
    monkeypatch.setitem(sys.modules, "pynvml", module)


def test_nvml_counter_reads_millijoules_by_uuid_and_reports_clocks_temperature_and_power(monkeypatch):
    _fake_pynvml(monkeypatch, iter([1000, 1000, 351_000]))
    counter, reason = nvml_counter("GPU-1234")
    assert reason == "" and counter.source == "nvml_counter"
    assert counter._handle == ("handle", "GPU-1234")
    assert counter.since(counter.read(), counter.read()) == pytest.approx(350.0)
    assert counter.conditions() == {"sm_clock_mhz": 1980.0, "memory_clock_mhz": 2619.0, "temperature_c": 41.0,
                                    "power_w": 120.5}


def test_nvml_without_a_driver_is_unavailable_with_the_error(monkeypatch):
    _fake_pynvml(monkeypatch, iter([]), fail_init=True)
    counter, reason = nvml_counter("GPU-1234")
    assert counter is None and "Library Not Found" in reason


def test_the_defaults_are_the_recommended_window():
    assert energy.MIN_WINDOW_S >= 5.0 and energy.MIN_CALLS >= 10 and energy.IDLE_S >= 2.0


def test_on_a_machine_without_counters_the_real_probes_say_why():
    counter, reason = rapl_counter()
    if counter is not None:
        pytest.skip("this machine has readable RAPL counters")
    assert reason and ("RAPL" in reason)
    counter, reason = nvml_counter("GPU-00000000-0000-0000-0000-000000000000")
    assert counter is None and reason
