"""Attention layers in plain PyTorch, each checked against a float64 reference from its equations.

Every module in this package is imported on first use so that its layers register themselves:
adding a model is one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil

from models.base import Attention, ModelError
from models.registry import ModelInfo, available, build, describe, get, register

_INFRASTRUCTURE = {"base", "registry"}

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _INFRASTRUCTURE and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Attention", "ModelError", "ModelInfo", "available", "build", "describe", "get", "register"]
