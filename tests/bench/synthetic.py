"""Synthetic results tables built from known laws, for testing the analysis, plots, claims and report.

Time per sequence follows t(x) = a + b * x**p along the swept axis; each configuration gets `n_samples`
raw samples with multiplicative log-normal noise. Rows are produced through the real `Record.row()`, so
the tables have exactly the columns of `bench.record.COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.config import BenchConfig
from bench.record import COLUMNS, Record


@dataclass(frozen=True)
class Law:
    """t(x) = a + b * x**p."""

    a: float
    b: float
    p: float

    def __call__(self, x: float) -> float:
        return self.a + self.b * float(x) ** self.p


def sweep(
    model: str,
    law: Law,
    values: Sequence[int],
    *,
    axis: str = "seq_len",
    batch: int = 2,
    seq_len: int = 256,
    d_model: int = 64,
    n_heads: int = 4,
    tokens: int | None = None,
    options: dict | None = None,
    mode: str = "forward",
    device: str = "cpu",
    device_name: str = "Synthetic CPU",
    dtype: str = "float32",
    causal: bool = False,
    scope: str = "attention",
    noise: float = 0.02,
    n_samples: int = 15,
    seed: int = 0,
    memory_law: Law | None = None,
    flops_law: Law | None = None,
    fail_from: int | None = None,
    fail_status: str = "oom",
    run_id: str = "synthetic",
) -> list[Record]:
    """Records for one sweep along `axis`; with `tokens`, batch = tokens // seq_len (the paper's coupling).

    The law gives time per sequence: a record's time is batch * law(x) under the tokens coupling and
    law(x) otherwise. From `fail_from` on, records get `fail_status` (oom/timeout/error/skipped) instead.
    """
    rng = np.random.default_rng(seed)
    records = []
    for value in values:
        shape = {"batch": batch, "seq_len": seq_len, "d_model": d_model, "n_heads": n_heads, axis: int(value)}
        if tokens is not None:
            shape["batch"] = max(1, tokens // shape["seq_len"])
        config = BenchConfig(model=model, options=dict(options or {}), mode=mode, device=device, dtype=dtype,
                             causal=causal, scope=scope, **shape)
        true_s = law(value) * (shape["batch"] if tokens is not None else 1)
        if fail_from is not None and value >= fail_from:
            records.append(_failed(config, fail_status, true_s, run_id, device_name))
            continue
        samples = (true_s * np.exp(noise * rng.standard_normal(n_samples))).tolist()
        memory = None
        if memory_law is not None:
            memory = {"peak_bytes": int(memory_law(value) * (shape["batch"] if tokens else 1)),
                      "method": "synthetic"}
        flops = {"analytic": int(flops_law(value)), "counted": None} if flops_law is not None else None
        records.append(Record(
            config=config, status="ok", run_id=run_id, env_id="env0", device_name=device_name,
            timing={"samples_s": samples, "cold_s": samples[0] * 3, "threads": 2, "timer": "synthetic"},
            memory=memory, flops=flops, timestamp=1.0, duration_s=sum(samples),
        ))
    return records


def _failed(config: BenchConfig, status: str, true_s: float, run_id: str, device_name: str) -> Record:
    if status == "skipped":
        return Record(config=config, status="skipped", run_id=run_id, env_id="env0", device_name=device_name,
                      prediction={"time_s": true_s, "peak_bytes": 10**12,
                                  "reason": "predicted peak 931.3 GiB exceeds the 8.0 GiB limit"})
    messages = {"oom": "OutOfMemoryError: tried to allocate 64.00 GiB\nmore detail",
                "timeout": "timed out after 300 s", "error": "RuntimeError: shape mismatch\nTraceback tail"}
    return Record(config=config, status=status, run_id=run_id, env_id="env0", device_name=device_name,
                  error=messages[status])


def record(model: str, samples: Sequence[float], *, options: dict | None = None,
           peak_bytes: int | None = None, device_name: str = "Synthetic CPU", timestamp: float = 1.0,
           **config: object) -> Record:
    """One ok record with exactly the given raw samples (config defaults: batch 2, N 256, d 64, 4 heads)."""
    shape = {"batch": 2, "seq_len": 256, "d_model": 64, "n_heads": 4, **config}
    memory = {"peak_bytes": peak_bytes, "method": "synthetic"} if peak_bytes is not None else None
    return Record(config=BenchConfig(model=model, options=dict(options or {}), **shape), status="ok",
                  run_id="synthetic", env_id="env0", device_name=device_name, timestamp=timestamp,
                  timing={"samples_s": list(samples), "threads": 2, "timer": "synthetic"}, memory=memory)


def frame(records: Iterable[Record], **env: object) -> pd.DataFrame:
    """A results table from records; keyword arguments become constant `env_*` columns."""
    df = pd.DataFrame([r.row() for r in records], columns=list(COLUMNS))
    for name, value in env.items():
        df[f"env_{name}"] = value
    return df


def standard_frame(*, noise: float = 0.02, seed: int = 0, n_samples: int = 15) -> pd.DataFrame:
    """A small run: sdpa/softmax quadratic, fastformer/linear linear in N, with failures and skips.

    Fastformer crosses sdpa between N=512 and N=1024: t_sdpa = 1e-4 + 1e-9 N^2 and
    t_fast = 1e-4 + 7e-7 N give 3.6e-4 vs 4.6e-4 s at 512 and 1.15e-3 vs 8.2e-4 s at 1024.
    Softmax runs out of memory at 8192, linear is skipped at 8192 and performer errors from 256.
    The batch sweep (N=384) and d_model sweep (batch 1, N=320) share no point with the N sweeps.
    """
    seq = [128, 256, 512, 1024, 2048, 4096]
    common = {"noise": noise, "n_samples": n_samples}
    mem_quad, mem_lin = Law(1e5, 8.0, 2.0), Law(1e5, 2048.0, 1.0)
    records = (
        sweep("sdpa", Law(1e-4, 1e-9, 2.0), seq, seed=seed, memory_law=mem_lin,
              flops_law=Law(0, 4e3, 2.0), **common)
        + sweep("softmax", Law(1e-4, 2e-9, 2.0), seq[:-1] + [8192], seed=seed + 1, memory_law=mem_quad,
                flops_law=Law(0, 4e3, 2.0), fail_from=8192, **common)
        + sweep("fastformer", Law(1e-4, 7e-7, 1.0), seq, seed=seed + 2, memory_law=mem_lin,
                flops_law=Law(0, 2e6, 1.0), **common)
        + sweep("fastformer", Law(1.2e-4, 7.7e-7, 1.0), seq, seed=seed + 3, options={"scorer": "official"},
                memory_law=mem_lin, **common)
        + sweep("linear", Law(1e-4, 1e-6, 1.0), seq + [8192], seed=seed + 4, memory_law=mem_lin,
                fail_from=8192, fail_status="skipped", **common)
        + sweep("performer", Law(1e-4, 1e-6, 1.0), [128, 256], seed=seed + 5, fail_from=256,
                fail_status="error", **common)
        + sweep("fastformer", Law(1e-4, 1e-3, 1.0), [1, 4, 8, 16, 32], axis="batch", seq_len=384,
                seed=seed + 6, **common)
        + sweep("fastformer", Law(1e-6, 1e-9, 2.0), [32, 128, 256, 512], axis="d_model", batch=1, seq_len=320,
                seed=seed + 7, **common)
    )
    return frame(records, cpu_model="Synthetic CPU", gpu_name=None)
