"""Compiled configurations: the layer through torch.compile, compiled cold, and never recompiled while timed.

- Modes (`BenchConfig.compile`): `inductor` is `torch.compile(model, backend="inductor", dynamic=False)`;
  `inductor-cudagraphs` adds mode "reduce-overhead" (CUDA graphs, CUDA only). `dynamic=False` because the
  default automatic-dynamic compiles a shape-generic graph after a second shape, silently changing what is
  measured; each configuration has one shape anyway.
- Cold: a compiled configuration gets a fresh worker process (bench.run.executors.local) and `fresh_caches`
  points TorchInductor's and Triton's on-disk caches at a new empty folder, so the first call pays the
  whole compile. The timing pass times that first call apart (`Compilation.first_call_s`); compile time is
  the first call less the steady median.
- No recompiles: after the first call `no_recompiles` makes any further compilation raise, and the step
  turns torch._dynamo's RecompileError into `RecompileDuringTiming`, which names the guard that failed:
  the configuration is recorded as an error, never timed over a mix of graphs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator

import torch
from torch import nn

CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
_OPTIONS = {"inductor": {}, "inductor-cudagraphs": {"mode": "reduce-overhead"}}


class RecompileDuringTiming(RuntimeError):
    """torch.compile compiled the layer again after its first call: the timed calls would mix graphs."""


def compile_model(model: nn.Module, mode: str, *, backend: str = "inductor") -> nn.Module:
    """The model wrapped by torch.compile for `mode` (a compiled entry of COMPILE_MODES); dynamo's state and
    counters from earlier compiles in this process are reset first, so graphs are neither reused nor
    counted twice."""
    from torch._dynamo.utils import counters

    if mode not in _OPTIONS:
        raise ValueError(f"not a compiled mode: {mode!r}; choose one of {', '.join(_OPTIONS)}")
    torch._dynamo.reset()
    counters.clear()
    return torch.compile(model, backend=backend, dynamic=False, **_OPTIONS[mode])


@contextlib.contextmanager
def fresh_caches() -> Iterator[str]:
    """Point the compile caches at a new empty folder for the duration, then restore and remove it."""
    saved = {name: os.environ.get(name) for name in CACHE_VARIABLES}
    with tempfile.TemporaryDirectory(prefix="attnbench-compile-") as folder:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(folder, "inductor")
        os.environ["TRITON_CACHE_DIR"] = os.path.join(folder, "triton")
        try:
            yield folder
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def graph_count() -> int:
    """Graphs torch.compile has built in this process since the last reset (dynamo's unique_graphs)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@contextlib.contextmanager
def no_recompiles() -> Iterator[None]:
    """While active, a compilation of an already compiled function raises instead of recompiling."""
    config = torch._dynamo.config
    previous = config.error_on_recompile
    config.error_on_recompile = True
    try:
        yield
    finally:
        config.error_on_recompile = previous


def guarded(step: Callable[[], None], label: str) -> Callable[[], None]:
    """`step` with torch._dynamo's RecompileError re-raised as RecompileDuringTiming naming `label`."""
    from torch._dynamo.exc import RecompileError

    def call() -> None:
        try:
            step()
        except RecompileError as exc:
            first_line = str(exc).strip().splitlines()
            reason = " ".join(line.strip() for line in first_line[:3])
            raise RecompileDuringTiming(f"{label}: torch.compile recompiled after the first call, so the timed "
                                        f"calls would mix graphs ({reason})") from exc

    return call
