"""Budget-aware sweeps: predict the next larger sequence length from the points already measured.

A series is one variant at fixed device, dtype, mode, causal, scope, d_model and n_heads; points in it
differ in seq_len and batch. Time and memory are modelled per sequence (value / batch) as a power of
seq_len, from the measured points that are smaller (shorter, or as long with a smaller batch), the
exponent taken from the two longest of them and clamped to [1, 3] (no attention layer here grows more
slowly than its projections, or faster than cubic). A configuration is skipped, and recorded with its
prediction, when the predicted time per call exceeds `max_call_s`, the predicted activation peak
exceeds `max_memory_bytes`, the whole measurement would outlast the configuration's timeout, or a
shorter sequence of the same series already ran out of memory, timed out or was skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from bench.config import BenchConfig
from bench.config.units import format_bytes, format_seconds
from bench.results.identity import ConfigKey
from bench.results.record import NOT_FITTING, Prediction, Record

MIN_EXPONENT = 1.0
MAX_EXPONENT = 3.0
# Calls a measurement makes beyond its warm-up and repeats: the cold call and the memory pass (which
# also counts the FLOPs), plus one call of margin.
EXTRA_CALLS = 3


@dataclass(frozen=True)
class Point:
    seq_len: int
    batch: int
    time_s: float
    peak_bytes: float | None


def series_key(config: BenchConfig) -> ConfigKey:
    """What stays fixed along a seq_len series: the configuration's identity less its length and batch."""
    return replace(ConfigKey.from_dict(config.to_dict()), seq_len=0, batch=0)


def _extrapolate(points: list[Point], attr: str, seq_len: int, batch: int) -> float | None:
    """Per-sequence value at the longest measured length, scaled to `seq_len` and `batch`."""
    by_length: dict[int, Point] = {}
    for p in points:
        value = getattr(p, attr)
        if value is not None and value > 0 and (p.seq_len not in by_length or p.batch > by_length[p.seq_len].batch):
            by_length[p.seq_len] = p
    if not by_length:
        return None
    usable = [by_length[n] for n in sorted(by_length)]
    last = usable[-1]
    per_seq_last = getattr(last, attr) / last.batch
    exponent = MIN_EXPONENT
    if len(usable) >= 2:
        prev = usable[-2]
        per_seq_prev = getattr(prev, attr) / prev.batch
        exponent = math.log(per_seq_last / per_seq_prev) / math.log(last.seq_len / prev.seq_len)
    exponent = min(max(exponent, MIN_EXPONENT), MAX_EXPONENT)
    return batch * per_seq_last * (seq_len / last.seq_len) ** exponent


class BudgetPredictor:
    """Learns from measured records and says which configuration to skip, with the prediction why."""

    def __init__(self, max_call_s: float | None = None, max_memory_bytes: int | None = None) -> None:
        self.max_call_s = max_call_s
        self.max_memory_bytes = max_memory_bytes
        self._points: dict[ConfigKey, list[Point]] = {}
        self._failures: dict[ConfigKey, tuple[int, str]] = {}

    def observe(self, record: Record) -> None:
        """Add a finished record (any status) to what the predictor knows."""
        key = series_key(record.config)
        n = record.config.seq_len
        if record.status == "ok" and record.summary is not None:
            peak = record.memory.peak_bytes if record.memory else None
            points = self._points.setdefault(key, [])
            points.append(Point(n, record.config.batch, record.summary.median, peak))
            points.sort(key=lambda p: p.seq_len)
        elif record.status in NOT_FITTING:
            known = self._failures.get(key)
            if known is None or n < known[0]:
                self._failures[key] = (n, record.status)

    def predict(self, config: BenchConfig) -> tuple[float | None, float | None]:
        """Predicted (seconds per call, activation peak bytes) from shorter measured sequences."""
        points = [p for p in self._points.get(series_key(config), [])
                  if p.seq_len < config.seq_len or (p.seq_len == config.seq_len and p.batch < config.batch)]
        if not points:
            return None, None
        return (_extrapolate(points, "time_s", config.seq_len, config.batch),
                _extrapolate(points, "peak_bytes", config.seq_len, config.batch))

    def check(self, config: BenchConfig) -> Prediction | None:
        """None to run the configuration; otherwise the prediction with the reason to skip it."""
        time_s, peak = self.predict(config)
        reason = self._reason(config, time_s, peak)
        return Prediction(time_s=time_s, peak_bytes=peak, reason=reason) if reason else None

    def _reason(self, config: BenchConfig, time_s: float | None, peak: float | None) -> str | None:
        failure = self._failures.get(series_key(config))
        if failure is not None and failure[0] < config.seq_len:
            return f"a shorter sequence (seq_len {failure[0]}) of this series ended {failure[1]}"
        if time_s is not None and self.max_call_s is not None and time_s > self.max_call_s:
            return (f"predicted {format_seconds(time_s)} per call exceeds the budget of "
                    f"{format_seconds(self.max_call_s)}")
        if peak is not None and self.max_memory_bytes is not None and peak > self.max_memory_bytes:
            return (f"predicted activation peak {format_bytes(peak)} exceeds the budget of "
                    f"{format_bytes(self.max_memory_bytes)}")
        calls = config.warmup + config.min_repeats + EXTRA_CALLS
        if time_s is not None and time_s * calls > config.timeout_s:
            return (f"predicted {format_seconds(time_s * calls)} for {calls} calls exceeds the timeout of "
                    f"{format_seconds(config.timeout_s)}")
        return None
