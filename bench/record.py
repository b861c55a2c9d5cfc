"""The result of one configuration: a value object that serialises to one JSON line and one table row.

Statuses: `ok` (measured), `oom` (out of memory), `error` (crashed; `error` holds the traceback tail),
`timeout` (exceeded its time limit) and `skipped` (not run; `prediction` says why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bench.config import BenchConfig
from bench.stats import Summary

SCHEMA_VERSION = 1
STATUSES = ("ok", "oom", "error", "timeout", "skipped")

# Columns of the table `Record.row()` produces (and `bench.storage.load_results` returns), in order.
COLUMNS = (
    "key", "run_id", "variant", "model", "options", "batch", "seq_len", "d_model", "n_heads", "causal",
    "dtype", "device", "mode", "scope", "status", "error",
    "n_samples", "median_s", "iqr_s", "p10_s", "p90_s", "mean_s", "min_s", "noisy", "cold_s", "tokens_per_s",
    "samples_s", "threads", "timer",
    "peak_bytes", "weights_bytes", "inputs_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes",
    "nvml_process_bytes", "memory_method",
    "flops_analytic", "flops_analytic_elementwise", "flops_counted", "flops_per_s", "flops_agree",
    "kernel", "param_count", "env_id", "device_name", "predicted_s", "predicted_bytes", "skip_reason",
    "timestamp", "duration_s",
)


@dataclass
class Record:
    """Everything measured (or why nothing was) for one BenchConfig.

    timing: {"samples_s": [...], "cold_s": float, "warmup": int, "threads": int, "timer": str,
             "block_size": int}
    memory: {"peak_bytes", "weights_bytes", "inputs_bytes", "cuda_peak_allocated_bytes",
             "cuda_peak_reserved_bytes", "nvml_process_bytes", "nvml_device_used_bytes", "method"}
    flops:  {"analytic", "analytic_elementwise", "counted", "agree"}
    prediction: {"time_s", "peak_bytes", "reason"} for skipped records.
    """

    config: BenchConfig
    status: str
    run_id: str = ""
    env_id: str = ""
    timing: dict | None = None
    memory: dict | None = None
    flops: dict | None = None
    kernel: str | None = None
    param_count: int | None = None
    device_name: str | None = None
    error: str | None = None
    prediction: dict | None = None
    timestamp: float | None = None
    duration_s: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def key(self) -> str:
        return self.config.key()

    @property
    def summary(self) -> Summary | None:
        samples = (self.timing or {}).get("samples_s")
        return Summary.from_samples(samples) if samples else None

    def to_json(self) -> dict:
        """A plain dict for one JSON line; summary statistics are included for other tools' convenience."""
        summary = self.summary
        return {
            "kind": "result",
            "schema": SCHEMA_VERSION,
            "key": self.key,
            "run_id": self.run_id,
            "env_id": self.env_id,
            "config": self.config.to_dict(),
            "status": self.status,
            "summary": summary.to_dict() if summary else None,
            "timing": self.timing,
            "memory": self.memory,
            "flops": self.flops,
            "kernel": self.kernel,
            "param_count": self.param_count,
            "device_name": self.device_name,
            "error": self.error,
            "prediction": self.prediction,
            "timestamp": self.timestamp,
            "duration_s": self.duration_s,
            "extra": self.extra,
        }

    def to_line(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, data: dict) -> Record:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported result schema {data.get('schema')!r}; "
                             f"this version reads schema {SCHEMA_VERSION}")
        return cls(
            config=BenchConfig.from_dict(data["config"]),
            status=data["status"],
            run_id=data.get("run_id", ""),
            env_id=data.get("env_id", ""),
            timing=data.get("timing"),
            memory=data.get("memory"),
            flops=data.get("flops"),
            kernel=data.get("kernel"),
            param_count=data.get("param_count"),
            device_name=data.get("device_name"),
            error=data.get("error"),
            prediction=data.get("prediction"),
            timestamp=data.get("timestamp"),
            duration_s=data.get("duration_s"),
            extra=data.get("extra") or {},
        )

    def row(self) -> dict:
        """One flat table row with exactly the columns in COLUMNS (missing values are None)."""
        c = self.config
        s = self.summary
        timing = self.timing or {}
        memory = self.memory or {}
        flops = self.flops or {}
        prediction = self.prediction or {}
        median = s.median if s else None
        counted = flops.get("counted")
        analytic = flops.get("analytic")
        work = counted if counted else analytic
        row = {
            "key": self.key, "run_id": self.run_id, "variant": c.variant, "model": c.model,
            "options": json.dumps(c.options, sort_keys=True), "batch": c.batch, "seq_len": c.seq_len,
            "d_model": c.d_model, "n_heads": c.n_heads, "causal": c.causal, "dtype": c.dtype,
            "device": c.device, "mode": c.mode, "scope": c.scope, "status": self.status, "error": self.error,
            "n_samples": s.n if s else 0, "median_s": median, "iqr_s": s.iqr if s else None,
            "p10_s": s.p10 if s else None, "p90_s": s.p90 if s else None, "mean_s": s.mean if s else None,
            "min_s": s.min if s else None, "noisy": s.noisy if s else None, "cold_s": timing.get("cold_s"),
            "tokens_per_s": c.tokens / median if median else None,
            "samples_s": list(timing.get("samples_s") or []), "threads": timing.get("threads"),
            "timer": timing.get("timer"),
            "peak_bytes": memory.get("peak_bytes"), "weights_bytes": memory.get("weights_bytes"),
            "inputs_bytes": memory.get("inputs_bytes"),
            "cuda_peak_allocated_bytes": memory.get("cuda_peak_allocated_bytes"),
            "cuda_peak_reserved_bytes": memory.get("cuda_peak_reserved_bytes"),
            "nvml_process_bytes": memory.get("nvml_process_bytes"), "memory_method": memory.get("method"),
            "flops_analytic": analytic, "flops_analytic_elementwise": flops.get("analytic_elementwise"),
            "flops_counted": counted, "flops_per_s": work / median if (work and median) else None,
            "flops_agree": flops.get("agree"),
            "kernel": self.kernel, "param_count": self.param_count, "env_id": self.env_id,
            "device_name": self.device_name, "predicted_s": prediction.get("time_s"),
            "predicted_bytes": prediction.get("peak_bytes"), "skip_reason": prediction.get("reason"),
            "timestamp": self.timestamp, "duration_s": self.duration_s,
        }
        return row
