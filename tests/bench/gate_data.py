"""Synthetic benchmark results for the regression-gate tests: known cost curves plus realistic noise.

Every model gets a time curve t(N) = c0 + c1 N + c2 N^2 and a memory curve of the same form, so the true
scaling exponents and the fastformer/softmax crossover (about N = 1500) are known. A run multiplies all
times by one machine factor (a shared CI runner that is faster or slower today), each configuration by
a small independent drift (kernels do not all respond alike to a busy machine) and each sample by
per-sample jitter with occasional spikes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.config import BenchConfig
from bench.environment import FINGERPRINT_KEYS, fingerprint_id
from bench.record import COLUMNS, Record
from bench.storage import ResultStore

SEQ_LENS = (128, 256, 512, 1024, 2048, 4096, 8192)
MODELS = ("sdpa", "softmax", "fastformer", "linear", "performer")
# t(N) = c0 + c1 N + c2 N^2 in seconds: sdpa and softmax are quadratic, the others linear.
TIME_COEFFS = {
    "sdpa": (2e-5, 5e-8, 1.5e-9),
    "softmax": (3e-5, 5e-8, 4e-9),
    "fastformer": (5e-5, 6e-6, 0.0),
    "linear": (4e-5, 3e-6, 0.0),
    "performer": (6e-5, 5e-6, 0.0),
}
# peak activation bytes m(N) = m0 + m1 N + m2 N^2.
MEMORY_COEFFS = {
    "sdpa": (4096, 2048, 32),
    "softmax": (4096, 2048, 64),
    "fastformer": (4096, 3072, 0),
    "linear": (4096, 4096, 0),
    "performer": (4096, 6144, 0),
}


def fingerprint(cpu_model: str = "Synthetic CPU A", gpu_name: str | None = None) -> dict:
    """An environment fingerprint with every FINGERPRINT_KEYS field; only the hardware fields vary."""
    fp: dict = dict.fromkeys(FINGERPRINT_KEYS)
    fp.update(python_version="3.11.0", torch_version="2.3.0", cpu_model=cpu_model, cpu_logical_cores=2,
              cpu_physical_cores=1, gpu_name=gpu_name, gpu_count=1 if gpu_name else 0, os="Linux",
              kernel="6.0", machine="x86_64", packages={}, torch_threads=2, timestamp=0.0)
    return fp


def make_records(
    *,
    models: tuple[str, ...] = MODELS,
    seq_lens: tuple[int, ...] = SEQ_LENS,
    machine: float = 1.0,
    config_noise: float = 0.03,
    sample_noise: float = 0.05,
    n_samples: int = 15,
    seed: int = 0,
    slowdown: dict[str, float] | None = None,
    time_coeffs: dict[str, tuple[float, float, float]] | None = None,
    run_id: str = "run-a",
    env_id: str = "env-a",
) -> list[Record]:
    """One synthetic run: a Record per (model, seq_len) with raw samples and peak memory.

    `slowdown` multiplies a model's every time (more work per call); `time_coeffs` replaces curves.
    """
    rng = np.random.default_rng(seed)
    coeffs = {**TIME_COEFFS, **(time_coeffs or {})}
    records = []
    for model in models:
        c0, c1, c2 = coeffs[model]
        m0, m1, m2 = MEMORY_COEFFS[model]
        for n in seq_lens:
            config = BenchConfig(model=model, batch=2, seq_len=n, d_model=64, n_heads=4)
            true_time = (c0 + c1 * n + c2 * n * n) * machine * (slowdown or {}).get(model, 1.0)
            drifted = true_time * float(np.exp(rng.normal(0.0, config_noise)))
            jitter = np.exp(rng.normal(0.0, sample_noise, n_samples))
            spikes = np.where(rng.random(n_samples) < 0.05, 1.5, 1.0)
            samples = [float(s) for s in drifted * jitter * spikes]
            records.append(Record(
                config=config, status="ok", run_id=run_id, env_id=env_id,
                timing={"samples_s": samples, "cold_s": samples[0] * 3, "warmup": 2, "threads": 2,
                        "timer": "perf_counter"},
                memory={"peak_bytes": int(m0 + m1 * n + m2 * n * n), "weights_bytes": 65536,
                        "inputs_bytes": 2 * n * 64 * 4, "method": "synthetic"},
                timestamp=1.0, duration_s=sum(samples),
            ))
    return records


def frame(records: list[Record]) -> pd.DataFrame:
    """The table `bench.storage.load_results` would return for these records (COLUMNS only)."""
    return pd.DataFrame([r.row() for r in records], columns=list(COLUMNS))


def make_results(**kwargs) -> pd.DataFrame:
    """`make_records(**kwargs)` as a results table."""
    return frame(make_records(**kwargs))


def write_results(path: Path, fp: dict, **kwargs) -> Path:
    """Write `make_records(**kwargs)` with their environment line to a results.jsonl, as a run would."""
    store = ResultStore(path)
    env_id = store.append_environment(fp)
    assert env_id == fingerprint_id(fp)
    for record in make_records(env_id=env_id, **kwargs):
        store.append(record)
    return path
