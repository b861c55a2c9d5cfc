"""The report's sections: each module of this package registers `render(ctx) -> str` with
`@section(order=...)`, and the report joins them in order. Adding a section is one new module here.

Every module of the package except `common` (shared formatting) is imported below, so that its
sections register themselves.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from bench.display.context import ReportContext

Render = Callable[[ReportContext], str]


@dataclass(frozen=True)
class Section:
    """One registered section: its place in the report, a name (its module's) and its renderer."""

    order: int
    name: str
    render: Render


_REGISTRY: list[Section] = []


def section(order: int) -> Callable[[Render], Render]:
    """Decorator: register `render(ctx) -> str` as the report section at position `order` (unique)."""
    def register(render: Render) -> Render:
        taken = next((s for s in _REGISTRY if s.order == order), None)
        if taken is not None:
            raise ValueError(f"section order {order} of {render.__module__} is taken by {taken.name}")
        _REGISTRY.append(Section(order, render.__module__.rsplit(".", 1)[-1], render))
        return render
    return register


def registered() -> list[Section]:
    """The registered sections in report order."""
    return sorted(_REGISTRY, key=lambda s: s.order)


_INFRASTRUCTURE = {"common"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
