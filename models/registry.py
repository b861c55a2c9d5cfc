"""Registry of attention layers keyed by name: adding a model is one new file that calls `register`.

A name of the form `package.module:ClassName` imports a user's own layer that follows the contract of
`models.base.Attention` (constructor `(d_model, n_heads, *, causal=False, **options)`,
`forward(x, mask=None)`, and ideally `flops(batch, seq_len)`).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from torch import nn

from models.base import Attention, ModelError

_REGISTRY: dict[str, type[nn.Module]] = {}


@dataclass(frozen=True)
class ModelInfo:
    """What `list-models` shows: name, one-line description and options with defaults and help."""

    name: str
    description: str
    options: dict[str, tuple[object, str]]
    supports_causal: bool
    complexity: dict[str, str | None]


def register(cls: type[Attention]) -> type[Attention]:
    """Class decorator: make `cls` buildable by its `name`."""
    if not cls.name:
        raise ModelError(f"{cls.__name__} must set a non-empty class attribute `name` to be registered")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ModelError(f"model name {cls.name!r} is registered twice "
                         f"({_REGISTRY[cls.name].__qualname__} and {cls.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> type[nn.Module]:
    """The class for a registered name or an importable `package.module:ClassName`."""
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(f"cannot import module {module_name!r} for model {name!r}: {exc}; run from the folder "
                             f"that holds it, or add that folder to PYTHONPATH") from exc
        except Exception as exc:  # noqa: BLE001 - a user's module failing at import (SyntaxError, ...) is bad input
            where = f" ({exc.filename}, line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
            raise ModelError(f"module {module_name!r} for model {name!r} fails to import: "
                             f"{type(exc).__name__}: {exc}{where}") from exc
        cls = getattr(module, class_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
            raise ModelError(f"{name!r}: {module_name} has no nn.Module subclass named {class_name!r}")
        return cls
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available())} "
                         f"(or give package.module:ClassName for your own layer)")
    return _REGISTRY[name]


def option_defaults(cls: type[nn.Module]) -> dict[str, object]:
    """Keyword options a model class accepts beyond d_model, n_heads and causal, with their defaults."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p.default for n, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "causal"}


def build(name: str, d_model: int, n_heads: int, *, causal: bool = False, **options: object) -> nn.Module:
    """Construct a model by name; unknown options raise ModelError listing the valid ones."""
    cls = get(name)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD
                      for p in inspect.signature(cls.__init__).parameters.values())
    valid = option_defaults(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown and not accepts_any:
        raise ModelError(f"model {name!r} has no option(s) {', '.join(unknown)}; "
                         f"valid options: {', '.join(sorted(valid)) or 'none'}")
    return cls(d_model, n_heads, causal=causal, **options)


def describe(name: str) -> ModelInfo:
    """Description and options of a model, for `run_bench.py list-models`."""
    cls = get(name)
    help_text = getattr(cls, "option_help", {})
    doc = getattr(cls, "description", "") or (inspect.getdoc(cls) or "").split("\n")[0]
    options = {opt: (default, help_text.get(opt, "")) for opt, default in option_defaults(cls).items()}
    complexity = dict(getattr(cls, "complexity", None) or {"time": None, "memory": None})
    return ModelInfo(name, doc, options, getattr(cls, "supports_causal", True), complexity)
