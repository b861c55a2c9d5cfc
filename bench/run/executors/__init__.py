"""Executors: where configurations run. A session hands each configuration to one and stores what returns.

An executor implements `submit(config)` (queue a configuration), `as_completed()` (yield a `Completed`
for each submitted configuration as it finishes, including ones submitted while iterating) and
`close()` (release its workers; `kill()` at once on an interrupt or error); `probe(spec)` measures the
machine-speed probe (bench.measure.probe) where it can, before any configuration. `slots` is how many
configurations it runs at once; the session never submits more than that ahead, so the budget
predictor sees each result before it decides on the next configuration. Whatever fails inside a
configuration (out of memory, a crash, a timeout) comes back as a Record with that status, never as an
exception. Executors register by name, and every module of this package is imported on first use:
adding one is one module with a `@register_executor` class; `from_settings` builds it from a sweep's
`[executor]` table (bench.config.executor_settings). An executor whose optional dependency is missing
still registers, and raises ExecutorUnavailable, naming the install command, when it is built.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bench.config import BenchConfig
from bench.config.executor_settings import ExecutorSettings
from bench.results.identity import ProbeSpec
from bench.results.record import Record


@dataclass(frozen=True)
class Completed:
    """A finished configuration (or probe) and the environment fingerprint of the process that measured it."""

    record: Record | None
    environment: dict | None
    probe: dict | None = None


class ExecutorUnavailable(RuntimeError):
    """An executor cannot be used here (its optional extra is missing, or its settings do not fit this
    machine); the message names the fix."""


def import_extra(module: str, executor: str, extra: str):
    """The optional `module` an executor needs, or ExecutorUnavailable naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExecutorUnavailable(f"--executor {executor} needs {module}, which is not installed: pip install "
                                  f"'attnbench[{extra}]' (or pip install {module})") from exc


@dataclass(frozen=True)
class RunContext:
    """What an executor built from settings may need to know about the run."""

    python: str = sys.executable
    fresh_worker_per_config: bool = False
    run_dir: Path = Path(".")
    on_cuda: bool = False  # the sweep measures on CUDA (GPUs to ask a scheduler for)


class Executor:
    """The interface every executor implements (see the module docstring)."""

    name: ClassVar[str]
    slots: int = 1

    @classmethod
    def from_settings(cls, settings: ExecutorSettings, context: RunContext) -> Executor:
        """This executor configured by a sweep's `[executor]` settings."""
        return cls(python=context.python, fresh_worker_per_config=context.fresh_worker_per_config)

    def check(self, configs: Sequence[BenchConfig]) -> None:
        """Raise bench.run.placement.PlacementError if this executor cannot run `configs` as its placement
        promises (e.g. CPU configurations spread over several exclusive workers)."""

    def describe(self) -> str:
        """One line for the run's start: the executor, its placement and how many configurations run at once."""
        return f"{self.name} ({self.slots} at a time)"

    def prestart(self, max_memory_bytes: int | None) -> None:
        """Start a worker early so its imports overlap the caller's start-up (optional)."""

    def probe(self, spec: ProbeSpec) -> Completed | None:
        """The machine-speed probe `spec` measured in a worker (a dict in `Completed.probe`), or None
        where this executor cannot measure one or the probe failed."""
        return None

    def submit(self, config: BenchConfig) -> None:
        raise NotImplementedError

    def as_completed(self) -> Iterator[Completed]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


_EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(cls: type[Executor]) -> type[Executor]:
    """Class decorator: make `cls` available to `make_executor` by its `name`."""
    if cls.name in _EXECUTORS and _EXECUTORS[cls.name] is not cls:
        raise ValueError(f"executor name {cls.name!r} is registered twice")
    _EXECUTORS[cls.name] = cls
    return cls


def executor_names() -> list[str]:
    """Names of the registered executors, sorted."""
    return sorted(_EXECUTORS)


def _executor_class(name: str) -> type[Executor]:
    if name not in _EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; available: {', '.join(executor_names())}")
    return _EXECUTORS[name]


def make_executor(name: str, **options: object) -> Executor:
    """An executor by name, built with `options` (e.g. python=..., fresh_worker_per_config=...)."""
    return _executor_class(name)(**options)


def executor_from_settings(settings: ExecutorSettings, context: RunContext) -> Executor:
    """The executor `settings.name`, configured by `settings` for the run `context` describes."""
    return _executor_class(settings.name).from_settings(settings, context)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
