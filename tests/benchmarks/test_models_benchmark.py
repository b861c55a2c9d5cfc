"""pytest-benchmark benchmarks of every registered model (plus any named in ATTNBENCH_MODELS or
--attnbench-models) at fixed small sizes, forward and train, on one CPU thread by default.

Each benchmark times the same step the harness measures (`bench.measure.harness.make_step`), synchronised on
CUDA. Run them with, e.g.:
    pytest tests/benchmarks --benchmark-only --benchmark-autosave
    pytest tests/benchmarks --benchmark-only --benchmark-compare --benchmark-compare-fail=median:25%
    ATTNBENCH_DEVICE=cuda pytest tests/benchmarks --benchmark-only
    ATTNBENCH_MODELS=mypkg.attention:MyAttention pytest tests/benchmarks --benchmark-only -k MyAttention
Plain `pytest` runs each body once untimed (see conftest.py for threads, malloc, models and timing).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from bench.config import BenchConfig
from bench.measure.harness import build_model, make_step
from bench.measure.timing import synchronize

# Sizes: 512 tokens keep even the fastest layer near a millisecond a call (not Python-overhead bound), and
# batch 1 keeps softmax's batch x heads x N x N score tensors at N=1024 (16 MiB) below the 32 MiB mmap
# threshold of STEADY_MALLOC: a block above it is mmapped afresh each call, and its page faults (more than
# half of a b=2 N=1024 softmax call, in kernel time) made those timings swing with the machine's load.
BATCH, D_MODEL, N_HEADS = 1, 64, 4
SEQ_LENS = (512, 1024)
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
def test_model_step(benchmark, device, model_choice, mode, seq_len):
    config = BenchConfig(model=model_choice.name, options=model_choice.options, batch=BATCH, seq_len=seq_len,
                         d_model=D_MODEL, n_heads=N_HEADS, mode=mode, device=device)
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
    benchmark.extra_info.update(model=model_choice.label, mode=mode, batch=BATCH, seq_len=seq_len, d_model=D_MODEL,
                                n_heads=N_HEADS, device=device)
    if benchmark.enabled:
        for _ in range(WARMUP_CALLS):
            timed()
    synchronize(device)
    benchmark(timed)
    assert calls, "the benchmarked step never ran"
    if mode == "train":
        assert x.grad is None and all(p.grad is None for p in model.parameters()), "train step left gradients"
