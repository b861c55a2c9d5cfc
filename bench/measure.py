"""Measure one configuration in the current process: time, memory and FLOPs in three separate passes.

`measure(config)` builds the layer (scope `attention`: `models.build`; scope `block`: one pre-LN
Transformer layer from `models.block.build_block`, n_layers=1) in `config.dtype` on `config.device`,
seeded with `config.seed`, and an input `torch.randn(batch, seq_len, d_model)` (never zeros: some layers
have data-dependent fast paths); no mask.

One "call" is what gets timed:
- mode `forward`: inference, `model.eval()` under `torch.no_grad()`; the output is discarded.
- mode `train`: `model.train()`, forward, a scalar loss `out.float().square().mean()`, backward. The input
  requires grad, so the whole backward of the layer runs (including the input gradient); afterwards
  parameter and input gradients are set to None, so every call allocates them afresh as a training
  step with `zero_grad(set_to_none=True)` does. The memory peak therefore includes the gradients.

Passes: (1) timing (`bench.timing.time_callable`, its cold call first), (2) memory (`bench.memory`,
one call) with the FLOPs counted in the same call by FlopCounterMode (`bench.flops.flop_counter`): the
counter only reads shapes and keeps no tensors, so it changes nothing that is allocated, and sharing
the call saves one run of the layer per configuration. Only pass 1 is timed.

FLOPs: `analytic` is the model's `flops(batch, seq_len)` (matmul FLOPs of one forward). In train mode it
is 3 x forward: the backward of a matmul C = A B whose operands both need gradients is two matmuls of the
same size (dA = dC B^T, dB = A^T dC), and here weights and input all need gradients. That is exact for
layers built from matmuls between such operands; it is an under-count where a matmul's operand is a
constant (Performer's random features: one backward matmul, not two) and where a fused kernel recomputes
in its backward (PyTorch counts SDPA's backward as 2.5 x its forward, i.e. 3.5 x in total). There, and
for any other disagreement beyond 1 %, `agree` is False and a FlopMismatchWarning gives the numbers.
`analytic_elementwise` (forward with elementwise=True, also x 3 in train) is an estimate only.
Layers without `flops()` (user layers) get analytic None.

Errors (including out-of-memory) propagate to the caller; `classify_exception` names them and
`release_memory` frees what a failed configuration left behind in a reused worker.
"""

from __future__ import annotations

import gc
import inspect
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from bench.config import BenchConfig
from bench.environment import cpu_model, fingerprint, fingerprint_id
from bench.flops import flop_counter
from bench.memory import malloc_trim, measure_memory
from bench.record import Record
from bench.timing import synchronize, time_callable

FLOP_TOLERANCE = 0.01
TRAIN_FLOP_FACTOR = 3
# torch's thread count when this module was imported: restored for configurations that set none, so a
# reused worker does not carry one configuration's `threads` into the next.
DEFAULT_THREADS = torch.get_num_threads()
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


class FlopMismatchWarning(UserWarning):
    """FlopCounterMode's count and the model's analytic FLOP count differ by more than FLOP_TOLERANCE."""


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


def make_step(model: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """The callable that is timed: one inference forward, or one forward + backward with fresh grads."""
    if mode == "forward":
        model.eval()

        def forward_step() -> None:
            with torch.no_grad():
                model(x)

        return forward_step
    if mode != "train":
        raise ValueError(f"mode must be forward or train, got {mode!r}")
    model.train()
    x.requires_grad_(True)

    def train_step() -> None:
        out = model(x)
        out.float().square().mean().backward()
        del out
        model.zero_grad(set_to_none=True)
        x.grad = None

    return train_step


def analytic_flops(model: nn.Module, config: BenchConfig, *, elementwise: bool = False) -> int | None:
    """The model's own FLOP count for this config and mode (3 x forward in train); None if it has none."""
    flops = getattr(model, "flops", None)
    if not callable(flops):
        return None
    from models.base import ModelError

    kwargs = {}
    if elementwise:
        params = inspect.signature(flops).parameters.values()
        if not any(p.name == "elementwise" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        kwargs["elementwise"] = True
    try:
        forward = int(flops(config.batch, config.seq_len, **kwargs))
    except (NotImplementedError, ModelError):
        return None
    return forward * TRAIN_FLOP_FACTOR if config.mode == "train" else forward


def compare_flops(counted: int | None, analytic: int | None, label: str) -> bool | None:
    """True when counted is within FLOP_TOLERANCE of analytic; warns with both numbers when not."""
    if counted is None or analytic is None:
        return None
    agree = abs(counted - analytic) <= FLOP_TOLERANCE * abs(analytic)
    if not agree:
        ratio = f"{counted / analytic:.4f}x" if analytic else "analytic is 0"
        warnings.warn(f"{label}: FlopCounterMode counted {counted:,} FLOPs but the analytic count is "
                      f"{analytic:,} ({ratio}); flops_agree=False", FlopMismatchWarning, stacklevel=2)
    return agree


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

    model = build_model(config).to(device=device, dtype=dtype)
    x = torch.randn(config.batch, config.seq_len, config.d_model, device=device, dtype=dtype)
    step = make_step(model, x, config.mode)

    timing = time_callable(step, device=config.device, warmup=config.warmup,
                           min_repeats=config.min_repeats, max_repeats=config.max_repeats,
                           budget_s=config.budget_s)
    weights = [*model.parameters(), *model.buffers()]
    with flop_counter() as counter:
        memory = measure_memory(step, device=config.device, weights=weights, inputs=[x])
    counted = int(counter.get_total_flops())
    analytic = analytic_flops(model, config)
    flops = {
        "analytic": analytic,
        "analytic_elementwise": analytic_flops(model, config, elementwise=True),
        "counted": counted,
        "agree": compare_flops(counted, analytic, f"{config.variant} ({config.scope}, {config.mode})"),
    }

    record = Record(
        config=config,
        status="ok",
        env_id=fingerprint_id(fingerprint()),
        timing={"samples_s": timing.samples_s, "cold_s": timing.cold_s, "warmup": config.warmup,
                "threads": torch.get_num_threads(), "timer": timing.timer, "block_size": timing.block_size},
        memory=memory,
        flops=flops,
        kernel=_kernel(model),
        param_count=_param_count(model),
        device_name=_device_name(device),
        timestamp=started,
    )
    del model, x, step, weights
    release_memory(config.device)
    record.duration_s = time.perf_counter() - clock
    return record
