"""The machine-speed probe: the matmul rate of this device at a sweep's width, measured in the run itself.

One GEMM of shape (rows x d_model) @ (d_model x d_model), the shape of an attention layer's projections,
timed like any configuration (bench.measure.timing). Its FLOP rate is what a layer doing only matmuls at
that width could reach here: analysis divides a configuration's achieved rate by it to tell work-bound
calls from overhead-bound ones, on the CPU as on a GPU.
"""

from __future__ import annotations

import torch

from bench.measure.timing import device_kind, time_callable
from bench.results.identity import ProbeSpec
from bench.results.stats import Summary

ROWS = {"cpu": 4096, "cuda": 65536}
BUDGET_S = 0.1


def gemm_rate(spec: ProbeSpec, budget_s: float = BUDGET_S) -> dict:
    """Time the probe GEMM; its spec, rows, raw samples and median FLOP rate (2 rows d^2 per call)."""
    previous = torch.get_num_threads()
    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    try:
        rows = ROWS[device_kind(spec.device)]
        dtype = getattr(torch, spec.dtype)
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(rows, spec.d_model, generator=generator).to(device=spec.device, dtype=dtype)
        b = torch.randn(spec.d_model, spec.d_model, generator=generator).to(device=spec.device, dtype=dtype)
        result = time_callable(lambda: a @ b, device=spec.device, warmup=2, min_repeats=5, max_repeats=1000,
                               budget_s=budget_s)
        threads_used = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
    median = Summary.from_samples(result.samples_s).median
    flops = 2 * rows * spec.d_model * spec.d_model
    return {**spec.to_dict(), "threads_used": threads_used, "rows": rows, "flops": flops,
            "samples_s": result.samples_s, "flops_per_s": flops / median}
