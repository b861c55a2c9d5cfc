"""Specification of compiled configurations (bench/measure/compiled.py and the compile pass).

In-process tests compile with torch.compile's "eager" backend (dynamo's tracing, guards and recompiles
without TorchInductor's C++ build, which takes tens of seconds here); the end-to-end run with the real
inductor backend is in tests/bench/cli/test_run.py.
"""

from __future__ import annotations

import functools
import os

import pytest
import torch

from bench.config import BenchConfig
from bench.measure import compiled
from bench.measure.harness import measure
from bench.results.record import Record

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def eager_backend(monkeypatch):
    """Compile with dynamo's eager backend: the same guards and recompiles, no C++ build."""
    monkeypatch.setattr(compiled, "compile_model", functools.partial(compiled.compile_model, backend="eager"))


def config(**overrides) -> BenchConfig:
    fields = {"model": "linear", "batch": 1, "seq_len": 32, "d_model": 16, "n_heads": 2, "warmup": 1,
              "min_repeats": 3, "max_repeats": 20, "budget_s": 0.01, "compile": "inductor", **overrides}
    return BenchConfig(**fields)


@pytest.mark.parametrize("mode", ["forward", "train"])
def test_a_compiled_configuration_records_its_first_call_apart_and_counts_flops_eagerly(eager_backend, mode):
    record = measure(config(mode=mode))
    assert record.status == "ok" and record.compilation.mode == "inductor"
    assert record.compilation.first_call_s > 0 and record.compilation.graphs >= 1
    assert record.flops.agree and record.flops.counted == record.flops.analytic > 0
    row = record.row()
    assert row["compile"] == "inductor" and row["compile_first_call_s"] == record.compilation.first_call_s
    assert row["compile_s"] == pytest.approx(record.compilation.first_call_s - record.summary.median)
    assert Record.from_json(record.to_json()).compilation == record.compilation


def test_an_eager_configuration_has_no_compilation_part():
    record = measure(config(compile="eager"))
    assert record.compilation is None and record.row()["compile_s"] is None


def test_a_recompile_after_the_first_call_is_an_error_naming_the_configuration_and_the_guard():
    model = torch.nn.Linear(8, 8)
    runner = compiled.compile_model(model, "inductor", backend="eager")
    shapes = iter([(4, 8), (4, 8), (5, 8)])

    def step() -> None:
        runner(torch.randn(*next(shapes)))

    call = compiled.guarded(step, "linear N=4")
    call()
    with compiled.no_recompiles():
        call()
        with pytest.raises(compiled.RecompileDuringTiming, match=r"linear N=4: torch.compile recompiled .*size"):
            call()
    assert compiled.graph_count() == 1


def test_no_recompiles_restores_the_previous_setting():
    before = torch._dynamo.config.error_on_recompile
    with compiled.no_recompiles():
        assert torch._dynamo.config.error_on_recompile is True
    assert torch._dynamo.config.error_on_recompile == before


def test_fresh_caches_point_inductor_and_triton_at_a_new_empty_folder_and_restore_them(monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/else")
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    with compiled.fresh_caches() as folder:
        assert os.environ["TORCHINDUCTOR_CACHE_DIR"].startswith(folder)
        assert os.environ["TRITON_CACHE_DIR"].startswith(folder)
        assert os.listdir(folder) == []
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/somewhere/else" and "TRITON_CACHE_DIR" not in os.environ
    assert not os.path.exists(folder)


def test_an_unknown_compiled_mode_is_refused():
    with pytest.raises(ValueError, match="not a compiled mode"):
        compiled.compile_model(torch.nn.Linear(2, 2), "eager")


@cuda
def test_cuda_graphs_mode_runs_and_records_tf32(eager_backend):
    record = measure(config(device="cuda", compile="inductor-cudagraphs", tf32=True))
    assert record.status == "ok" and record.extra["precision"]["tf32_matmul"] is True
