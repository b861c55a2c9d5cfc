"""bench.measure.passes.energy: the energy pass over mocked counters and a fake clock (nothing sleeps)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bench.config import BenchConfig
from bench.measure.energy import EnergyCounter, rapl_counter
from bench.measure.harness import measure
from bench.measure.passes import Bench
from bench.measure.passes import energy as energy_pass
from bench.results.record import Energy, Record
from tests.bench.measure.test_energy import FakeClock

TOKENS = 2 * 64


class SteppedCounter(EnergyCounter):
    """A counter integrating a piecewise-constant power over the fake time, that shows a new value only
    every `period_s` (as NVML's, every 20-100 ms) and may wrap at `wrap_j`."""

    source = "fake"

    def __init__(self, clock: FakeClock, watts: float, period_s: float = 0.0, wrap_j: float | None = None,
                 start_j: float = 0.0) -> None:
        self.clock, self.period_s, self.wrap_j = clock, period_s, wrap_j
        self.segments = [(clock.now, start_j, watts)]  # (from time, joules then, watts since)

    @property
    def watts(self) -> float:
        return self.segments[-1][2]

    def set_watts(self, watts: float) -> None:
        self.segments.append((self.clock.now, self._at(self.clock.now), watts))

    def _at(self, t: float) -> float:
        start, joules, watts = [s for s in self.segments if s[0] <= t][-1]
        return joules + watts * (t - start)

    def read(self) -> float:
        now = self.clock.now
        t = (now // self.period_s) * self.period_s if self.period_s else now
        value = self._at(max(t, self.segments[0][0]))
        return value % self.wrap_j if self.wrap_j else value


def _config(**overrides) -> BenchConfig:
    fields = {"model": "softmax", "batch": 2, "seq_len": 64, "d_model": 32, "n_heads": 4, "energy": True,
              **overrides}
    return BenchConfig(**fields)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """The pass's clock and sleep replaced by a fake clock, and its synchronisation recorded; `idle` hooks
    run when the pass sleeps (the device drops back to idle power)."""
    fake = FakeClock()
    fake.idle, fake.syncs = [], []

    def sleep(seconds: float) -> None:
        for hook in fake.idle:
            hook()
        fake.sleep(seconds)

    monkeypatch.setattr(energy_pass, "clock", fake)
    monkeypatch.setattr(energy_pass, "sleep", sleep)
    monkeypatch.setattr(energy_pass, "synchronize", fake.syncs.append)
    return fake


def _bench(config: BenchConfig, clock: FakeClock, counter: SteppedCounter, call_s: float,
           busy_w: float = 350.0) -> Bench:
    """A bench whose step takes `call_s` of the fake clock and draws `busy_w` from the counter (its starting
    power is the idle power, which it draws again while the pass sleeps)."""
    idle_w = counter.watts
    clock.idle.append(lambda: counter.set_watts(idle_w))

    def step() -> None:
        if counter.watts != busy_w:
            counter.set_watts(busy_w)
        clock.now += call_s
    return Bench(config, nn.Identity(), torch.zeros(1), step)


def _on_cuda(monkeypatch, counter) -> list[str]:
    """NVML mocked: the visible GPU is GPU-1234 and its energy counter is `counter`; returns the UUIDs opened."""
    opened: list[str] = []
    monkeypatch.setattr(energy_pass, "visible_gpu_uuid", lambda: "GPU-1234")
    monkeypatch.setattr(energy_pass, "nvml_counter", lambda uuid: (opened.append(uuid), (counter, ""))[1])
    return opened


def test_a_steady_nvml_counter_gives_gross_and_net_energy_per_call_and_per_token(monkeypatch, clock):
    counter = SteppedCounter(clock, watts=50.0)
    opened = _on_cuda(monkeypatch, counter)
    parts = energy_pass.EnergyPass().run(_bench(_config(device="cuda"), clock, counter, call_s=0.01))
    result = parts["energy"]
    assert isinstance(result, Energy) and opened == ["GPU-1234"]
    assert result.source == "fake" and result.window_s >= 5.0 and result.calls >= 500
    assert result.idle_w == pytest.approx(50.0)
    assert result.gross_j_per_call == pytest.approx(3.5)
    assert result.net_j_per_call == pytest.approx(3.0)
    assert result.gross_j_per_token == pytest.approx(3.5 / TOKENS)
    assert result.net_j_per_token == pytest.approx(3.0 / TOKENS)
    assert clock.syncs and set(clock.syncs) == {"cuda"}  # every side of every window synchronised


def test_a_window_shorter_than_the_counters_update_period_is_unavailable_not_zero(monkeypatch, clock):
    counter = SteppedCounter(clock, watts=50.0, period_s=0.1)  # updates only every 100 ms, as NVML's
    _on_cuda(monkeypatch, counter)
    monkeypatch.setattr(energy_pass, "MIN_WINDOW_S", 0.05)
    monkeypatch.setattr(energy_pass, "IDLE_S", 0.02)
    result = energy_pass.EnergyPass().run(_bench(_config(device="cuda"), clock, counter, call_s=0.001))["energy"]
    assert result.source == "unavailable" and "did not advance" in result.reason
    assert result.gross_j_per_call is None and result.net_j_per_token is None


def test_the_default_window_spans_many_updates_of_a_100_ms_counter(monkeypatch, clock):
    counter = SteppedCounter(clock, watts=50.0, period_s=0.1)
    _on_cuda(monkeypatch, counter)
    result = energy_pass.EnergyPass().run(_bench(_config(device="cuda"), clock, counter, call_s=0.01))["energy"]
    assert result.gross_j_per_call == pytest.approx(3.5, rel=0.05)  # within two updates over >= 5 s


def test_a_wrap_around_of_the_counter_inside_the_window_is_unrolled(monkeypatch, clock):
    counter = SteppedCounter(clock, watts=100.0, wrap_j=1000.0, start_j=900.0)  # wraps within the window
    _on_cuda(monkeypatch, counter)
    result = energy_pass.EnergyPass().run(_bench(_config(device="cuda"), clock, counter, call_s=0.01,
                                                 busy_w=100.0))["energy"]
    assert result.gross_j_per_call == pytest.approx(1.0)
    assert result.net_j_per_call == pytest.approx(0.0, abs=1e-9)


def test_slow_calls_get_smaller_batches_and_a_window_too_long_for_the_timeout_is_not_started(monkeypatch, clock):
    counter = SteppedCounter(clock, watts=50.0)
    _on_cuda(monkeypatch, counter)
    slow = energy_pass.EnergyPass().run(_bench(_config(device="cuda"), clock, counter, call_s=2.0))["energy"]
    assert slow.calls == 3 and slow.gross_j_per_call == pytest.approx(700.0)
    too_long = energy_pass.EnergyPass().run(_bench(_config(device="cuda", timeout_s=20.0), clock, counter,
                                                   call_s=15.0))["energy"]
    assert too_long.source == "unavailable" and "half the timeout (20 s)" in too_long.reason


def test_the_pass_is_skipped_when_the_configuration_does_not_ask_for_energy(monkeypatch, clock):
    def no_counter(device):
        raise AssertionError("no counter may be opened")
    monkeypatch.setattr(energy_pass, "device_counter", no_counter)
    counter = SteppedCounter(clock, watts=50.0)
    assert energy_pass.EnergyPass().run(_bench(_config(energy=False), clock, counter, call_s=0.01)) == {}
    assert clock.now == 0.0


def test_the_cpu_without_rapl_gets_no_figures_and_the_reason(monkeypatch, tmp_path, clock):
    monkeypatch.setattr(energy_pass, "rapl_counter", lambda: rapl_counter(tmp_path / "absent"))
    counter = SteppedCounter(clock, watts=50.0)
    result = energy_pass.EnergyPass().run(_bench(_config(), clock, counter, call_s=0.01))["energy"]
    assert result.source == "unavailable" and "no RAPL" in result.reason and "does not exist" in result.reason
    assert result.gross_j_per_call is None and result.idle_w is None and clock.now == 0.0


def test_a_gpu_nvml_cannot_name_is_unavailable_with_the_reason(monkeypatch, clock):
    monkeypatch.setattr(energy_pass, "visible_gpu_uuid", lambda: None)
    result = energy_pass.device_counter("cuda")
    assert result[0] is None and "NVML cannot name the visible GPU" in result[1]


def test_a_measured_configuration_carries_its_energy_part_through_the_record(monkeypatch):
    monkeypatch.setattr(energy_pass, "MIN_WINDOW_S", 0.02)  # in case this machine's RAPL is readable
    monkeypatch.setattr(energy_pass, "IDLE_S", 0.01)
    config = BenchConfig(model="tests.fixtures.toy_models:ToyAttention", batch=2, seq_len=16, d_model=8,
                         n_heads=1, warmup=1, min_repeats=2, max_repeats=5, budget_s=0.01, energy=True)
    record = measure(config)
    assert record.energy is not None and record.energy.source in ("rapl", "unavailable")
    assert record.energy.source == "rapl" or record.energy.reason
    assert Record.from_json(json.loads(record.to_line())).energy == record.energy
    later = measure(BenchConfig(**{**config.to_dict(), "pass_index": 1}))
    assert later.energy is None
