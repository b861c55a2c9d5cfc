"""pytest-benchmark benchmarks of every registered model at fixed small sizes, forward and train.

Each benchmark times the same step the harness measures (`bench.measure.harness.make_step`), synchronised on
CUDA. Run them with, e.g.:
    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    pytest tests/benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:25%
    ATTNBENCH_DEVICE=cuda pytest tests/benchmarks --benchmark-only
Plain `pytest` runs each body once untimed (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import models
from bench.config import BenchConfig
from bench.measure.harness import build_model, make_step
from bench.measure.timing import synchronize

BATCH, D_MODEL, N_HEADS = 2, 64, 4
SEQ_LENS = (256, 1024)
WARMUP_CALLS = 2


def synchronized(step: Callable[[], None], device: str) -> Callable[[], None]:
    """`step` followed by a device synchronise, so a timed call covers the kernels it queued on a GPU."""
    if device == "cpu":
        return step

    def run() -> None:
        step()
        synchronize(device)

    return run


@pytest.mark.parametrize("seq_len", SEQ_LENS, ids=lambda n: f"N{n}")
@pytest.mark.parametrize("mode", ["forward", "train"])
@pytest.mark.parametrize("model_name", models.available())
def test_model_step(benchmark, device, model_name, mode, seq_len):
    config = BenchConfig(model=model_name, batch=BATCH, seq_len=seq_len, d_model=D_MODEL, n_heads=N_HEADS,
                         mode=mode, device=device)
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    x = torch.randn(BATCH, seq_len, D_MODEL, device=device)
    calls = []
    step = make_step(model, x, mode)

    def counted_step() -> None:
        calls.append(1)
        step()

    timed = synchronized(counted_step, device)
    benchmark.group = f"{mode} b={BATCH} N={seq_len} d={D_MODEL} h={N_HEADS} {device}"
    benchmark.extra_info.update(model=model_name, mode=mode, batch=BATCH, seq_len=seq_len, d_model=D_MODEL,
                                n_heads=N_HEADS, device=device)
    if benchmark.enabled:
        for _ in range(WARMUP_CALLS):
            timed()
    synchronize(device)
    benchmark(timed)
    assert calls, "the benchmarked step never ran"
    if mode == "train":
        assert x.grad is None and all(p.grad is None for p in model.parameters()), "train step left gradients"
