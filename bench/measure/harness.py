"""Measure one configuration in the current process: build it, run every measurement pass, one Record.

`measure(config)` builds the layer (scope `attention`: `models.build`; scope `block`: one pre-LN
Transformer layer from `models.block.build_block`, n_layers=1) in `config.dtype` on `config.device`,
seeded with `config.seed`, with `config.threads` CPU threads (torch's default when None, so a reused
worker does not carry one configuration's threads into the next), and an input
`torch.randn(batch, seq_len, d_model)` (never zeros: some layers have data-dependent fast paths); no mask.

One "call" is what gets timed:
- mode `forward`: inference, `model.eval()` under `torch.no_grad()`; the output is discarded.
- mode `train`: `model.train()`, forward, a scalar loss `out.float().square().mean()`, backward. The input
  requires grad, so the whole backward of the layer runs (including the input gradient); afterwards
  parameter and input gradients are set to None, so every call allocates them afresh as a training
  step with `zero_grad(set_to_none=True)` does. The memory peak therefore includes the gradients.

Output contract: the first call checks that the layer returns a tensor of the input's shape whose values
are all finite; anything else raises `OutputContractError`, recorded as an `error` with that reason.

Then the passes of `bench.measure.passes` run in order: timing (its cold call first; the only timed
pass), then memory with the FLOPs counted in the same call (see bench.measure.flops for the counts),
then, when `config.energy` is set, energy over a window of the timed step (bench.measure.passes.energy);
in replicated passes after the first (`config.pass_index > 0`) only the timing pass runs.
The record's `env_id` is left for the run session to set: the environment is the worker's, not the
configuration's.

Execution settings: `config.tf32` sets whether CUDA float32 matmuls and convolutions may use TensorFloat-32
(both switches, every configuration, so a reused worker carries nothing over; PyTorch's own default lets
cuDNN use it), and the switches in effect are stored in `record.extra["precision"]`. A compiled
configuration (`config.compile`, see bench.measure.compiled) times the torch.compile'd layer: the compile
pass takes its cold first call in a fresh cache, every later call runs with recompiles forbidden, and its
FLOPs are counted on the same layer run eagerly (FlopCounterMode cannot see inside compiled code).

Errors (including out-of-memory) propagate to the caller; `classify_exception` names them and
`release_memory` frees what a failed configuration left behind in a reused worker.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import json
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from bench.config import BenchConfig
from bench.measure import compiled
from bench.measure.environment import cpu_model
from bench.measure.memory import malloc_trim
from bench.measure.passes import Bench, passes
from bench.measure.timing import synchronize
from bench.results.record import Record, Source

# torch's thread count when this module was imported: restored for configurations that set none.
DEFAULT_THREADS = torch.get_num_threads()
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


class OutputContractError(RuntimeError):
    """The layer's output is not a finite tensor of its input's shape: a broken layer, never a measurement."""


def check_output(out: object, x: torch.Tensor) -> None:
    """Raise OutputContractError unless `out` is a tensor of `x`'s shape with only finite values."""
    if not isinstance(out, torch.Tensor):
        raise OutputContractError(f"the layer returned {type(out).__name__}, not a tensor; a layer maps "
                                  f"(batch, seq_len, d_model) to a tensor of the same shape")
    if tuple(out.shape) != tuple(x.shape):
        raise OutputContractError(f"the layer returned shape {tuple(out.shape)} for an input of shape "
                                  f"{tuple(x.shape)}; it must return the input's shape")
    if not bool(torch.isfinite(out).all()):
        raise OutputContractError("the layer's output holds NaN or infinite values on a random normal input")


def classify_exception(exc: BaseException) -> str:
    """`oom` for out-of-memory errors (CUDA or host allocator), `error` for anything else."""
    oom_types: tuple[type[BaseException], ...] = (MemoryError,)
    for holder, name in ((torch, "OutOfMemoryError"), (torch.cuda, "OutOfMemoryError")):
        cls = getattr(holder, name, None)
        if isinstance(cls, type):
            oom_types += (cls,)
    if isinstance(exc, oom_types):
        return "oom"
    if isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OOM_MESSAGES):
        return "oom"
    return "error"


def release_memory(device: str) -> None:
    """Free what a finished (or failed) configuration left: garbage, the CUDA cache, glibc's free pages."""
    gc.collect()
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        synchronize(device)
        torch.cuda.empty_cache()
    else:
        malloc_trim()


def build_model(config: BenchConfig) -> nn.Module:
    """The layer (scope attention) or one Transformer layer around it (scope block), per `config`."""
    if config.scope == "block":
        from models.block import build_block

        return build_block(config.model, config.d_model, config.n_heads, causal=config.causal, n_layers=1,
                           **config.options)
    from models import build

    return build(config.model, config.d_model, config.n_heads, causal=config.causal, **config.options)


def model_source(config: BenchConfig) -> Source:
    """The layer's options as built (its defaults under the configuration's own), JSON-safe, and for a
    user's layer (`module:Class`) its source file and the file's SHA-256, so a rerun can check it."""
    from models.registry import get, option_defaults

    cls = get(config.model)
    resolved = json.loads(json.dumps({**option_defaults(cls), **config.options}, default=repr))
    if ":" not in config.model:
        return Source(options=resolved)
    path = inspect.getsourcefile(cls)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    return Source(options=resolved, file=str(Path(path).resolve()) if path else None, sha256=digest)


def make_step(model: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """The callable that is timed: one inference forward, or one forward + backward with fresh grads.

    Its first call checks the output contract (`check_output`); later calls do not pay for the check.
    """
    unchecked = [True]

    def checked(out: object) -> None:
        if unchecked:
            check_output(out, x)
            unchecked.clear()

    if mode == "forward":
        model.eval()

        def forward_step() -> None:
            with torch.no_grad():
                checked(model(x))

        return forward_step
    if mode != "train":
        raise ValueError(f"mode must be forward or train, got {mode!r}")
    model.train()
    x.requires_grad_(True)

    def train_step() -> None:
        out = model(x)
        checked(out)
        out.float().square().mean().backward()
        del out
        model.zero_grad(set_to_none=True)
        x.grad = None

    return train_step


def declared_complexity(model_name: str) -> dict | None:
    """The complexity class the layer declares on its class (`models.base.Attention.complexity`), if any."""
    from models import get

    declared = getattr(get(model_name), "complexity", None)
    return dict(declared) if isinstance(declared, dict) else None


def _param_count(model: nn.Module) -> int:
    own = getattr(model, "param_count", None)
    if callable(own):
        return int(own())
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _kernel(model: nn.Module) -> str | None:
    own = getattr(model, "kernel", None)
    return str(own()) if callable(own) else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def set_tf32(enabled: bool) -> dict:
    """Let (or forbid) CUDA float32 matmuls and cuDNN convolutions use TensorFloat-32; the switches now."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newer torch prefers fp32_precision; allow_tf32 works in every version
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
        return {"tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
                "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
                "float32_matmul_precision": torch.get_float32_matmul_precision()}


@contextlib.contextmanager
def _execution(config: BenchConfig) -> Iterator[dict]:
    """The configuration's precision switches, and for a compiled one fresh compile caches; yields the
    switches in effect."""
    with compiled.fresh_caches() if config.compile != "eager" else contextlib.nullcontext():
        yield set_tf32(config.tf32)


def _bench(config: BenchConfig, model: nn.Module, x: torch.Tensor) -> Bench:
    """What the passes measure: the eager step, or the compiled step with the eager one kept for FLOPs."""
    if config.compile == "eager":
        return Bench(config, model, x, make_step(model, x, config.mode))
    runner = compiled.compile_model(model, config.compile)
    step = compiled.guarded(make_step(runner, x, config.mode), config.variant)
    return Bench(config, model, x, step, eager_step=make_step(model, x, config.mode))


def measure(config: BenchConfig) -> Record:
    """Measure `config` in this process and return an `ok` Record; any failure propagates as an exception."""
    started = time.time()
    clock = time.perf_counter()
    torch.set_num_threads(config.threads or DEFAULT_THREADS)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but torch.cuda.is_available() is False; use --device cpu")
    dtype = getattr(torch, config.dtype)

    with _execution(config) as precision:
        model = build_model(config).to(device=device, dtype=dtype)
        x = torch.randn(config.batch, config.seq_len, config.d_model, device=device, dtype=dtype)
        bench = _bench(config, model, x)
        parts: dict = {}
        with contextlib.ExitStack() as after_first_call:
            for measurement in passes(config.pass_index):
                parts.update(measurement.run(bench))
                if measurement.name == "compile":
                    after_first_call.enter_context(compiled.no_recompiles())
    record = Record(config=config, status="ok", kernel=_kernel(model), param_count=_param_count(model),
                    device_name=_device_name(device), complexity=declared_complexity(config.model),
                    timestamp=started, extra={"precision": precision}, source=model_source(config), **parts)
    del model, x, bench
    release_memory(config.device)
    record.duration_s = time.perf_counter() - clock
    return record
