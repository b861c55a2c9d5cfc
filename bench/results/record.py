"""The result of one configuration: a value object that serialises to one JSON line and one table row.

Statuses: `ok` (measured), `oom` (out of memory), `error` (crashed; `error` holds the traceback tail),
`timeout` (exceeded its time limit) and `skipped` (not run; `prediction` says why).

What was measured lives in typed parts (`Timing`, `Memory`, `Flops`, `Compilation` for compiled
configurations; `Prediction` for skipped ones; `Energy` when an energy pass ran; `Placement`),
each of which names its table columns and computes them; `COLUMNS` is derived from them. Adding a
measurement is one such part in PARTS plus its field on Record (see README, Development).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from bench.config import BenchConfig
from bench.results.identity import ConfigKey, PassKey, options_text
from bench.results.stats import Summary

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "timeout", "skipped")
# The outcomes that are not a measurement, by what they mean:
FAILED = ("oom", "error", "timeout")  # it ran and did not finish
NOT_FITTING = ("oom", "timeout", "skipped")  # the size is beyond what fits (errors are bugs, not limits)
NOT_MEASURED = ("oom", "error", "timeout", "skipped")  # every outcome but ok


class Part:
    """A typed part of a Record: JSON in and out, and its own table columns."""

    name: ClassVar[str]
    COLUMNS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_json(cls, data: dict | None) -> Any:
        """The part from its JSON object (missing keys are None); None stays None."""
        if data is None:
            return None
        if isinstance(data, cls):
            return data
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    def columns(self, record: Record) -> dict:
        """This part's COLUMNS for `record`'s table row."""
        raise NotImplementedError

    @classmethod
    def missing_columns(cls) -> dict:
        """The COLUMNS of a record that lacks this part."""
        return dict.fromkeys(cls.COLUMNS)


@dataclass(frozen=True)
class Timing(Part):
    """Raw per-call samples (seconds) and how they were taken; statistics are computed from them."""

    name: ClassVar[str] = "timing"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "n_samples", "median_s", "iqr_s", "p10_s", "p90_s", "mean_s", "min_s", "noisy", "cold_s",
        "tokens_per_s", "samples_s", "threads", "timer")

    samples_s: list[float] = field(default_factory=list)
    cold_s: float | None = None
    warmup: int | None = None
    threads: int | None = None
    timer: str | None = None
    block_size: int | None = None

    @property
    def summary(self) -> Summary | None:
        return Summary.from_samples(self.samples_s) if self.samples_s else None

    @classmethod
    def missing_columns(cls) -> dict:
        return {**dict.fromkeys(cls.COLUMNS), "n_samples": 0, "samples_s": []}

    def columns(self, record: Record) -> dict:
        s = self.summary
        return {"n_samples": s.n if s else 0, "median_s": s.median if s else None, "iqr_s": s.iqr if s else None,
                "p10_s": s.p10 if s else None, "p90_s": s.p90 if s else None, "mean_s": s.mean if s else None,
                "min_s": s.min if s else None, "noisy": s.noisy if s else None, "cold_s": self.cold_s,
                "tokens_per_s": record.config.tokens / s.median if s else None,
                "samples_s": list(self.samples_s), "threads": self.threads, "timer": self.timer}


@dataclass(frozen=True)
class Memory(Part):
    """Peak memory of one call above the pre-run baseline, and what existed before it (bytes)."""

    name: ClassVar[str] = "memory"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "peak_bytes", "weights_bytes", "inputs_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes",
        "nvml_process_bytes", "memory_method")

    peak_bytes: int | None = None
    weights_bytes: int | None = None
    inputs_bytes: int | None = None
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None
    nvml_process_bytes: int | None = None
    nvml_device_used_bytes: int | None = None
    method: str | None = None

    def columns(self, record: Record) -> dict:
        values = {name: getattr(self, name) for name in self.COLUMNS[:-1]}
        return {**values, "memory_method": self.method}


@dataclass(frozen=True)
class Flops(Part):
    """FLOPs of one call: the layer's analytic count, FlopCounterMode's count and whether they agree."""

    name: ClassVar[str] = "flops"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "flops_analytic", "flops_analytic_elementwise", "flops_counted", "flops_per_s", "flops_agree")

    analytic: int | None = None
    analytic_elementwise: int | None = None
    counted: int | None = None
    agree: bool | None = None

    def columns(self, record: Record) -> dict:
        median = record.summary.median if record.summary else None
        work = self.counted if self.counted else self.analytic
        return {"flops_analytic": self.analytic, "flops_analytic_elementwise": self.analytic_elementwise,
                "flops_counted": self.counted, "flops_per_s": work / median if (work and median) else None,
                "flops_agree": self.agree}


@dataclass(frozen=True)
class Compilation(Part):
    """A compiled configuration's cold compile: its first call in a fresh process and cache, split into the
    compile time (first call less the steady median) and the graphs torch.compile built."""

    name: ClassVar[str] = "compilation"
    COLUMNS: ClassVar[tuple[str, ...]] = ("compile_s", "compile_first_call_s", "compile_graphs")

    mode: str | None = None
    first_call_s: float | None = None
    graphs: int | None = None

    def columns(self, record: Record) -> dict:
        median = record.summary.median if record.summary else None
        compile_s = self.first_call_s - median if self.first_call_s is not None and median is not None else None
        return {"compile_s": compile_s, "compile_first_call_s": self.first_call_s, "compile_graphs": self.graphs}


@dataclass(frozen=True)
class Prediction(Part):
    """Why a configuration was skipped: the budget predictor's time and memory estimates, not measurements."""

    name: ClassVar[str] = "prediction"
    COLUMNS: ClassVar[tuple[str, ...]] = ("predicted_s", "predicted_bytes", "skip_reason")

    time_s: float | None = None
    peak_bytes: float | None = None
    reason: str | None = None

    def columns(self, record: Record) -> dict:
        return {"predicted_s": self.time_s, "predicted_bytes": self.peak_bytes, "skip_reason": self.reason}


@dataclass(frozen=True)
class Energy(Part):
    """One call's energy from a hardware counter (bench.measure.energy.EnergyResult's fields): gross, and net of
    the idle power measured just before; every figure None when `source` is "unavailable" (`reason` says why).
    `before` and `after` are the device's clocks, temperature and power around the window."""

    name: ClassVar[str] = "energy"
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "energy_source", "energy_j_per_call", "energy_net_j_per_call", "energy_j_per_token",
        "energy_net_j_per_token", "energy_idle_w", "energy_window_s", "energy_calls", "energy_reason",
        "gpu_temperature_c", "gpu_power_w", "gpu_sm_clock_mhz")

    source: str | None = None
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

    def columns(self, record: Record) -> dict:
        after = self.after or {}
        return {"energy_source": self.source, "energy_j_per_call": self.gross_j_per_call,
                "energy_net_j_per_call": self.net_j_per_call, "energy_j_per_token": self.gross_j_per_token,
                "energy_net_j_per_token": self.net_j_per_token, "energy_idle_w": self.idle_w,
                "energy_window_s": self.window_s, "energy_calls": self.calls, "energy_reason": self.reason or None,
                "gpu_temperature_c": after.get("temperature_c"), "gpu_power_w": after.get("power_w"),
                "gpu_sm_clock_mhz": after.get("sm_clock_mhz")}


@dataclass(frozen=True)
class Placement(Part):
    """Where a configuration ran: the executor, the placement policy, the host and the device it was given,
    and the attempts it took (an executor that retries a crashed task lists the earlier failures)."""

    name: ClassVar[str] = "placement"
    COLUMNS: ClassVar[tuple[str, ...]] = ("executor", "placement", "host", "slot", "device_uuid", "attempts",
                                          "others_on_device")

    executor: str | None = None
    placement: str | None = None
    host: str | None = None
    slot: str | None = None
    device_uuid: str | None = None
    cuda_visible_devices: str | None = None
    attempts: int = 1
    retried: list = field(default_factory=list)
    others_on_device: int | None = None  # other processes on its GPU as it started (NVML; None: unknown)

    def columns(self, record: Record) -> dict:
        return {name: getattr(self, name) for name in self.COLUMNS}


@dataclass(frozen=True)
class Source(Part):
    """What was built: every option's resolved value (defaults included, which the configuration's own
    `options` leaves out), and for a user's layer the file it came from and that file's SHA-256."""

    name: ClassVar[str] = "source"
    COLUMNS: ClassVar[tuple[str, ...]] = ("resolved_options", "model_file", "model_sha256")

    options: dict = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None

    def columns(self, record: Record) -> dict:
        return {"resolved_options": json.dumps(self.options, sort_keys=True), "model_file": self.file,
                "model_sha256": self.sha256}


PARTS: tuple[type[Part], ...] = (Timing, Memory, Flops, Compilation, Prediction, Energy, Placement, Source)
IDENTITY_COLUMNS = ("key", "run_id", "pass", "variant", "model", "options", "batch", "seq_len", "d_model", "n_heads",
                    "causal", "dtype", "device", "mode", "scope", "compile", "tf32", "status", "error")
OTHER_COLUMNS = ("kernel", "param_count", "complexity_time", "complexity_memory", "env_id", "device_name")
TRAILING_COLUMNS = ("timestamp", "duration_s")
# Columns of the table `Record.row()` produces (and `bench.results.table.load_results` returns), in order.
COLUMNS = (*IDENTITY_COLUMNS, *(name for part in PARTS for name in part.COLUMNS), *OTHER_COLUMNS, *TRAILING_COLUMNS)


@dataclass
class Record:
    """Everything measured (or why nothing was) for one BenchConfig.

    The parts may be given as their JSON objects; they are converted to Timing, Memory, Flops,
    Compilation, Prediction, Energy, Placement and Source; a stored line without one (older results) leaves it
    None. `complexity` is the layer's declared {"time": class, "memory": class} in sequence length.
    """

    config: BenchConfig
    status: str
    run_id: str = ""
    env_id: str = ""
    timing: Timing | None = None
    memory: Memory | None = None
    flops: Flops | None = None
    compilation: Compilation | None = None
    kernel: str | None = None
    param_count: int | None = None
    device_name: str | None = None
    complexity: dict | None = None
    error: str | None = None
    prediction: Prediction | None = None
    energy: Energy | None = None
    placement: Placement | None = None
    source: Source | None = None
    timestamp: float | None = None
    duration_s: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        for part in PARTS:
            setattr(self, part.name, part.from_json(getattr(self, part.name)))

    @property
    def key(self) -> ConfigKey:
        """The identity of what this record measured."""
        return ConfigKey.from_dict(self.config.to_dict())

    @property
    def pass_key(self) -> PassKey:
        """The identity of this record in its file: the configuration and its replicated pass."""
        return PassKey(self.key, self.config.pass_index)

    @property
    def summary(self) -> Summary | None:
        return self.timing.summary if self.timing else None

    def to_json(self) -> dict:
        """A plain dict for one JSON line; summary statistics are included for other tools' convenience.

        `key` is `BenchConfig.digest()`, a checksum the reader verifies against the configuration.
        """
        summary = self.summary
        data = {"kind": "result", "schema": SCHEMA_VERSION, "key": self.config.digest(), "run_id": self.run_id,
                "env_id": self.env_id, "config": self.config.to_dict(), "status": self.status,
                "summary": summary.to_dict() if summary else None}
        for part in PARTS:
            value = getattr(self, part.name)
            data[part.name] = value.to_json() if value is not None else None
        data.update(kernel=self.kernel, param_count=self.param_count, device_name=self.device_name,
                    complexity=self.complexity, error=self.error, timestamp=self.timestamp,
                    duration_s=self.duration_s, extra=self.extra)
        return data

    def to_line(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, data: dict) -> Record:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported result schema {data.get('schema')!r}; "
                             f"this version reads schema {SCHEMA_VERSION}")
        simple = ("run_id", "env_id", "kernel", "param_count", "device_name", "complexity", "error", "timestamp",
                  "duration_s")
        values = {name: data.get(name) for name in simple if data.get(name) is not None}
        parts = {part.name: data.get(part.name) for part in PARTS}
        return cls(config=BenchConfig.from_dict(data["config"]), status=data["status"], **values, **parts,
                   extra=data.get("extra") or {})

    def row(self) -> dict:
        """One flat table row with exactly the columns in COLUMNS (missing values are None)."""
        c = self.config
        row: dict = {
            "key": c.digest(), "run_id": self.run_id, "pass": c.pass_index, "variant": c.variant, "model": c.model,
            "options": options_text(c.options), "batch": c.batch, "seq_len": c.seq_len,
            "d_model": c.d_model, "n_heads": c.n_heads, "causal": c.causal, "dtype": c.dtype,
            "device": c.device, "mode": c.mode, "scope": c.scope, "compile": c.compile, "tf32": c.tf32,
            "status": self.status, "error": self.error,
        }
        complexity = self.complexity or {}
        row.update(kernel=self.kernel, param_count=self.param_count, complexity_time=complexity.get("time"),
                   complexity_memory=complexity.get("memory"), env_id=self.env_id, device_name=self.device_name,
                   timestamp=self.timestamp, duration_s=self.duration_s)
        for part in PARTS:
            value = getattr(self, part.name)
            row.update(value.columns(self) if value is not None else part.missing_columns())
        return {name: row[name] for name in COLUMNS}
