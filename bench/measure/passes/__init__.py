"""The registry of measurement passes: each pass measures one aspect of a built configuration.

`bench.measure.harness.measure` builds the layer, its input and the step to time (a `Bench`), then runs
every registered pass in `order` and puts what each returns (parts keyed by their Record field name,
e.g. {"timing": Timing(...)}) into the Record. Every module of this package is imported on first use,
so adding a measurement is one module here with a `@register_pass` class, plus its typed part on
`bench.results.record.Record`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from bench.config import BenchConfig
from bench.results.record import Part


@dataclass(frozen=True)
class Bench:
    """What a pass measures: the configuration, the built layer, its input and the step that is timed.

    For a compiled configuration `step` runs the compiled layer and `eager_step` the same call on the
    layer as written (for counting FLOPs); for an eager one `eager_step` is None.
    """

    config: BenchConfig
    model: nn.Module
    x: torch.Tensor
    step: Callable[[], None]
    eager_step: Callable[[], None] | None = None


class Pass:
    """One measurement pass; `run` returns the parts it measured, keyed by their Record field.

    A pass with `every_pass = False` runs only in a configuration's first replicated pass
    (`BenchConfig.pass_index == 0`): what it measures does not change between passes.
    """

    name: ClassVar[str]
    order: ClassVar[int]
    every_pass: ClassVar[bool] = True

    def run(self, bench: Bench) -> dict[str, Part]:
        raise NotImplementedError


_PASSES: list[Pass] = []


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: run an instance of `cls` for every configuration, in `order`."""
    if any(type(p).name == cls.name for p in _PASSES):
        raise ValueError(f"measurement pass {cls.name!r} is registered twice")
    _PASSES.append(cls())
    _PASSES.sort(key=lambda p: p.order)
    return cls


def passes(pass_index: int = 0) -> list[Pass]:
    """The registered passes that run in replicated pass `pass_index`, in the order they run."""
    return [p for p in _PASSES if pass_index == 0 or p.every_pass]


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
