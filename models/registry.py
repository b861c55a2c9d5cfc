"""Registry of attention layers keyed by name: adding a model is one new file that calls `register`.

A user's own layer that follows the contract of `models.base.Attention` (constructor `(d_model, n_heads, *,
causal=False, **options)`, `forward(x, mask=None)`, and ideally `flops(batch, seq_len)`) is named
`package.module:ClassName` (imported as Python would, the current directory included) or
`path/to/file.py:ClassName` (loaded from that file). A dotted name whose top package is one of this
tool's own (`models`, `bench`: common names in ML projects) is also looked up in the current
directory's folder of that name, after this tool's own: a project's `models/my_attn.py` works as
`models.my_attn:MyAttention`, and can import its siblings as `models.helpers`, without the two `models`
packages shadowing each other (a project module with the same name as one of ours is refused with the
file form to use instead). A file is loaded under a private module name, its folder added at the end
of the import path so that it can import its own sibling modules.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


OWN_PACKAGES = ("models", "bench")


def _extend_own_package(top: str, folder: Path) -> None:
    """Let `folder` (a project's own `models` or `bench`) provide submodules this tool's package `top`
    lacks: the folder goes after ours on the package's path."""
    package = importlib.import_module(top)
    paths = [str(Path(p).resolve()) for p in package.__path__]
    if folder.is_dir() and str(folder.resolve()) not in paths:
        package.__path__.append(str(folder.resolve()))


def _load_file(path: Path) -> ModuleType:
    """Execute a user's module file under a private name (see the module docstring)."""
    path = path.resolve()
    if not path.is_file():
        raise ImportError(f"no such file {path}")
    name = "attnbench_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import(module_name: str) -> ModuleType:
    """A user's module by file path or dotted name (see the module docstring)."""
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        path = Path(module_name).resolve()
        for folder in path.parents:  # a file inside a project's own models/ may import its siblings
            if folder.name in OWN_PACKAGES:
                _extend_own_package(folder.name, folder)
        return _load_file(path)
    top = module_name.split(".")[0]
    if top in OWN_PACKAGES:
        _extend_own_package(top, Path.cwd() / top)
    module = importlib.import_module(module_name)
    theirs = Path.cwd().joinpath(*module_name.split(".")).with_suffix(".py")
    if top in OWN_PACKAGES and theirs.is_file() and Path(module.__file__ or "").resolve() != theirs.resolve():
        raise ModelError(f"{module_name} is also a module of this tool, which takes precedence; give the file "
                         f"instead: {theirs.relative_to(Path.cwd())}:ClassName")
    return module


def _user_module(module_name: str, name: str) -> ModuleType:
    """The module of a user's layer, with an error that says how to make it importable."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:  # dotted names resolve from the current directory, last
        sys.path.append(cwd)
    try:
        return _import(module_name)
    except ModelError:
        raise
    except ImportError as exc:
        raise ModelError(f"cannot import module {module_name!r} for model {name!r}: {exc}; run from the folder "
                         f"that holds it, add that folder to PYTHONPATH, or give the file: "
                         f"path/to/file.py:ClassName") from exc
    except Exception as exc:  # noqa: BLE001 - a user's module failing at import (SyntaxError, ...) is bad input
        where = f" ({exc.filename}, line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ModelError(f"module {module_name!r} for model {name!r} fails to import: "
                         f"{type(exc).__name__}: {exc}{where}") from exc


def get(name: str) -> type[nn.Module]:
    """The class for a registered name, `package.module:ClassName` or `path/to/file.py:ClassName`."""
    if ":" in name:
        module_name, _, class_name = name.rpartition(":")
        module = _user_module(module_name, name)
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
