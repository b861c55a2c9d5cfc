"""Specification of bench.measure.harness: one configuration measured in-process into an `ok` Record."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import warnings
from pathlib import Path

import pytest
import torch

from bench.config import BenchConfig
from bench.measure.flops import FlopMismatchWarning, analytic_flops, compare_flops
from bench.measure.harness import DEFAULT_THREADS, classify_exception, measure
from bench.measure.memory import MEMORY_KEYS
from bench.measure.passes import passes, register_pass
from bench.results.record import Flops, Record
from models.base import ModelError

TOY = "tests.fixtures.toy_models"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
has_block = importlib.util.find_spec("models.block") is not None


def config(model: str = f"{TOY}:ToyAttention", **overrides) -> BenchConfig:
    fields = {"model": model, "batch": 2, "seq_len": 64, "d_model": 32, "n_heads": 1, "warmup": 1,
              "min_repeats": 3, "max_repeats": 50, "budget_s": 0.01, **overrides}
    return BenchConfig(**fields)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def assert_round_trips(record: Record) -> None:
    again = Record.from_json(json.loads(record.to_line()))
    assert again.to_json() == record.to_json()
    assert again.row() == record.row()


def test_forward_record_is_ok_complete_and_round_trips():
    cfg = config()
    record = measure(cfg)
    assert record.status == "ok" and record.config == cfg
    timing = record.timing
    assert len(timing.samples_s) >= 3 and all(s > 0 for s in timing.samples_s)
    assert timing.cold_s > 0 and timing.warmup == 1 and timing.timer == "perf_counter"
    assert timing.threads == torch.get_num_threads() and timing.block_size >= 1
    assert tuple(dataclasses.asdict(record.memory)) == MEMORY_KEYS and record.memory.peak_bytes > 0
    assert record.memory.weights_bytes == 3 * 32 * 32 * 4
    assert record.memory.inputs_bytes == 2 * 64 * 32 * 4
    expected = 6 * 2 * 64 * 32**2 + 4 * 2 * 64**2 * 32
    assert record.flops == Flops(analytic=expected, analytic_elementwise=expected + 5 * 2 * 64**2,
                                 counted=expected, agree=True)
    assert record.kernel == "toy-matmul" and record.param_count == 3 * 32 * 32
    assert record.device_name and record.timestamp and record.duration_s > 0
    assert record.env_id == ""  # the session sets it: the environment is the worker's
    assert record.complexity == {"time": "quadratic", "memory": "quadratic"}
    assert record.compilation is None and record.row()["compile"] == "eager" and record.row()["tf32"] is False
    assert record.extra["precision"]["tf32_matmul"] is False and record.extra["precision"]["tf32_cudnn"] is False
    assert_round_trips(record)


def test_train_counts_three_times_the_forward_matmuls_and_includes_gradients_in_the_peak():
    record = measure(config(mode="train", seq_len=256, d_model=64))
    forward = 6 * 2 * 256 * 64**2 + 4 * 2 * 256**2 * 64
    assert record.flops.analytic == 3 * forward
    assert record.flops.counted == 3 * forward
    assert record.flops.agree is True
    assert record.memory.peak_bytes > record.memory.weights_bytes
    assert_round_trips(record)


def test_train_leaves_no_gradients_behind_between_calls():
    from bench.measure.harness import build_model, make_step

    cfg = config(mode="train")
    model = build_model(cfg)
    x = torch.randn(2, 64, 32)
    step = make_step(model, x, "train")
    step()
    assert x.requires_grad and x.grad is None
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.skipif(not has_block, reason="models.block is not available")
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_block_scope_wraps_the_attention_in_one_transformer_layer(mode):
    record = measure(config(model=f"{TOY}:ToyLinear", scope="block", mode=mode))
    attention_only = measure(config(model=f"{TOY}:ToyLinear", mode=mode))
    assert record.status == "ok" and record.flops.agree is True
    assert record.flops.counted > attention_only.flops.counted
    assert record.param_count > attention_only.param_count
    assert_round_trips(record)


def test_threads_are_set_recorded_and_not_carried_into_the_next_configuration(restore_threads):
    assert measure(config(threads=1)).timing.threads == 1
    assert measure(config()).timing.threads == DEFAULT_THREADS


def test_disagreeing_flop_counts_warn_with_numbers_and_store_false():
    with pytest.warns(FlopMismatchWarning, match=r"counted 262,144 FLOPs but the analytic count is 131,072"):
        record = measure(config(model=f"{TOY}:ToyMisreported"))
    assert record.status == "ok" and record.flops.agree is False


def test_agreement_tolerance_is_one_percent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compare_flops(1009, 1000, "x") is True
        assert compare_flops(None, 1000, "x") is None
        assert compare_flops(1000, None, "x") is None
    with pytest.warns(FlopMismatchWarning):
        assert compare_flops(1011, 1000, "x") is False


def test_user_layer_without_flops_or_kernel_gets_none_for_them():
    record = measure(config(model=f"{TOY}:ToyUserLayer"))
    assert record.flops.analytic is None and record.flops.analytic_elementwise is None
    assert record.flops.agree is None and record.flops.counted == 2 * 2 * 64 * 32**2
    assert record.kernel is None and record.param_count == 32 * 32 + 32
    assert_round_trips(record)


def test_analytic_flops_of_a_layer_without_an_elementwise_estimate_is_none():
    class OnlyMatmuls(torch.nn.Module):
        def flops(self, batch: int, seq_len: int) -> int:
            return 7 * batch * seq_len

    cfg = config()
    assert analytic_flops(OnlyMatmuls(), cfg) == 7 * 2 * 64
    assert analytic_flops(OnlyMatmuls(), cfg, elementwise=True) is None


def test_failures_propagate_instead_of_becoming_records():
    with pytest.raises(ModelError, match="unknown model"):
        measure(config(model="no-such-model"))


@pytest.mark.parametrize("exc, kind", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
    (MemoryError(), "oom"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                  "you tried to allocate 1099511627776 bytes"), "oom"),
    (RuntimeError("CUDA error: out of memory"), "oom"),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "error"),
    (ValueError("out of memory"), "error"),
    (ModelError("bad option"), "error"),
])
def test_classify_exception(exc, kind):
    assert classify_exception(exc) == kind


def test_a_real_host_allocation_failure_is_classified_oom():
    with pytest.raises(RuntimeError) as info:
        torch.empty(2**62, dtype=torch.uint8)
    assert classify_exception(info.value) == "oom"


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_cuda_measurement_uses_events_and_the_allocator(mode):
    record = measure(config(device="cuda", mode=mode))
    assert record.status == "ok" and record.timing.timer == "cuda_event"
    assert record.memory.method == "cuda_max_memory_allocated"
    assert record.memory.cuda_peak_allocated_bytes == record.memory.peak_bytes > 0
    assert record.flops.agree is True
    assert_round_trips(record)


def test_the_registered_passes_run_compile_then_timing_then_memory_with_the_flops_then_energy():
    assert [p.name for p in passes()] == ["compile", "timing", "memory", "energy"]
    with pytest.raises(ValueError, match="registered twice"):
        register_pass(type(passes()[0]))


def test_a_layer_without_a_declared_complexity_records_none_for_it():
    assert measure(config(model=f"{TOY}:ToyUserLayer")).complexity is None


BAD = "tests.fixtures.bad_output_models"


@pytest.mark.parametrize(("out", "message"), [
    ((torch.zeros(2, 4, 8), None), "the layer returned tuple, not a tensor"),
    ([1.0, 2.0], "the layer returned list, not a tensor"),
    (None, "the layer returned NoneType, not a tensor"),
    (torch.zeros(2, 3, 8), r"returned shape \(2, 3, 8\) for an input of shape \(2, 4, 8\)"),
    (torch.zeros(2, 4, 8, 1), r"returned shape \(2, 4, 8, 1\)"),
    (torch.zeros(8, 4, 2), r"returned shape \(8, 4, 2\)"),
    (torch.full((2, 4, 8), float("nan")), "NaN or infinite"),
    (torch.zeros(2, 4, 8).index_fill_(1, torch.tensor([3]), float("inf")), "NaN or infinite"),
    (torch.zeros(2, 4, 8).index_fill_(2, torch.tensor([0]), float("-inf")), "NaN or infinite"),
])
def test_check_output_refuses_anything_but_a_finite_tensor_of_the_input_shape(out, message):
    from bench.measure.harness import OutputContractError, check_output

    with pytest.raises(OutputContractError, match=message):
        check_output(out, torch.randn(2, 4, 8))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_check_output_accepts_a_finite_tensor_of_the_input_shape(dtype):
    from bench.measure.harness import check_output

    x = torch.randn(2, 4, 8, dtype=dtype)
    assert check_output(torch.randn(2, 4, 8, dtype=dtype) * 1e3, x) is None
    assert check_output(x, x) is None


def test_an_output_contract_error_is_a_runtime_error_classified_as_error():
    from bench.measure.harness import OutputContractError

    assert issubclass(OutputContractError, RuntimeError)
    assert classify_exception(OutputContractError("the layer's output holds NaN")) == "error"


@pytest.mark.parametrize("mode", ["forward", "train"])
@pytest.mark.parametrize(("layer", "message"), [
    ("NaNLayer", "NaN or infinite values on a random normal input"),
    ("InfLayer", "NaN or infinite values on a random normal input"),
    ("WrongShape", r"returned shape \(2, 63, 32\) for an input of shape \(2, 64, 32\)"),
    ("TupleOutput", "the layer returned tuple, not a tensor"),
])
def test_measuring_a_layer_that_breaks_the_output_contract_raises(layer, message, mode):
    from bench.measure.harness import OutputContractError

    with pytest.raises(OutputContractError, match=message):
        measure(config(model=f"{BAD}:{layer}", mode=mode))


def test_the_output_is_checked_on_the_first_call_only(monkeypatch):
    from bench.measure import harness

    checks = []
    monkeypatch.setattr(harness, "check_output", lambda out, x: checks.append(tuple(out.shape)))
    for mode in ("forward", "train"):
        cfg = config(mode=mode)
        step = harness.make_step(harness.build_model(cfg), torch.randn(2, 64, 32), mode)
        for _ in range(3):
            step()
    assert checks == [(2, 64, 32), (2, 64, 32)]  # once per step: the timed calls do not pay for it


def test_passes_after_the_first_run_only_the_compile_and_timing_passes():
    assert [p.name for p in passes(0)] == ["compile", "timing", "memory", "energy"]
    assert [p.name for p in passes(1)] == ["compile", "timing"]
    assert [p.name for p in passes(5)] == ["compile", "timing"]


def test_a_later_pass_measures_only_timing_without_the_cold_call_memory_or_flops():
    first = measure(config(pass_index=0))
    later = measure(config(pass_index=1))
    assert later.status == "ok" and later.config.pass_index == 1
    assert len(later.timing.samples_s) >= 3 and all(s > 0 for s in later.timing.samples_s)
    assert later.timing.cold_s is None and later.timing.warmup == 1 and later.timing.timer == "perf_counter"
    assert later.memory is None and later.flops is None
    assert later.kernel == "toy-matmul" and later.param_count == 3 * 32 * 32 and later.duration_s > 0
    assert first.timing.cold_s > 0 and first.memory.peak_bytes > 0 and first.flops.counted > 0
    assert later.pass_key.config == first.pass_key.config and later.pass_key != first.pass_key
    assert_round_trips(later)
    assert later.row()["pass"] == 1 and later.row()["peak_bytes"] is None and later.row()["cold_s"] is None


def test_the_worker_replies_to_a_broken_output_with_an_error_failure_naming_the_contract():
    from bench.measure.harness import classify_exception as classify
    from bench.run.protocol import run_request
    from bench.run.worker import serve_request

    cfg = config(model=f"{BAD}:NaNLayer")
    reply = json.loads(serve_request(run_request(cfg), measure, classify))
    assert reply["type"] == "failure" and reply["key"] == cfg.digest()
    assert reply["status"] == "error" and reply["exception"] == "OutputContractError"
    last = reply["error"].splitlines()[-1]
    assert last == ("bench.measure.harness.OutputContractError: the layer's output holds NaN or infinite "
                    "values on a random normal input")


def test_the_worker_replies_to_a_good_layer_with_its_record():
    from bench.run.protocol import run_request
    from bench.run.worker import serve_request

    cfg = config(pass_index=1)
    reply = json.loads(serve_request(run_request(cfg), measure, classify_exception))
    assert reply["type"] == "result" and reply["key"] == cfg.digest()
    record = Record.from_json(reply["record"])
    assert record.config == cfg and record.status == "ok" and record.memory is None


def test_a_layer_that_cannot_run_under_the_flop_counter_is_measured_with_no_counted_flops():
    record = measure(config(model="longformer", options={"impl": "flex", "window": 4}, seq_len=16, d_model=16,
                            n_heads=2))
    assert record.status == "ok" and record.memory.peak_bytes is not None
    assert record.flops.counted is None and record.flops.agree is None and record.flops.analytic > 0


def test_every_option_is_recorded_with_its_resolved_value_defaults_included():
    from bench.measure.harness import model_source
    from models.registry import get, option_defaults

    source = model_source(config(model="longformer", n_heads=2, options={"window": 8}))
    assert source.options["window"] == 8 and set(source.options) == set(option_defaults(get("longformer")))
    assert len(source.options) > 1  # the defaults the configuration left out are there too
    assert source.file is None and source.sha256 is None  # a registered layer is named by the version


def test_a_users_layer_records_its_source_file_and_the_files_hash():
    import hashlib

    import tests.fixtures.toy_models as toy

    record = measure(config())
    path = Path(toy.__file__).resolve()
    assert record.source.file == str(path)
    assert record.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.row()["model_sha256"] == record.source.sha256
    assert_round_trips(record)
