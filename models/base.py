"""The contract every attention layer in this harness follows.

A layer maps x of shape (batch, seq, d_model) to a tensor of the same shape, takes an optional bool
mask of shape (batch, seq) where True keeps a token, knows its analytic FLOP count, its parameter count
and the kernel it dispatches to. Subclasses register themselves with `models.registry.register`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class ModelError(ValueError):
    """A model was asked for something it cannot do; the message says what would be valid."""


class UncountableError(ModelError):
    """The layer cannot run under FlopCounterMode (a torch limitation); the harness then measures its
    memory without counting and records no counted FLOPs."""


class Attention(nn.Module):
    """Base class for attention layers: validation, shape checks and bookkeeping shared by all.

    Subclasses set `name`, `description`, `option_help` (option name -> one-line help), `complexity`
    and, when they have no causal form, `supports_causal = False`. A layer with a fixed maximum length
    sets `max_len`. `complexity` is the asymptotic class of time and memory in sequence length
    ("linear", "quadratic", ... or None when it depends on the kernel): the report's expected column
    and the gate's default exponent bounds come from it.
    """

    name: ClassVar[str] = ""
    complexity: ClassVar[dict[str, str | None]] = {"time": None, "memory": None}
    description: ClassVar[str] = ""
    option_help: ClassVar[dict[str, str]] = {}
    supports_causal: ClassVar[bool] = True

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__()
        for label, value in (("d_model", d_model), ("n_heads", n_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ModelError(f"{self.name or type(self).__name__}: {label} must be a positive integer, "
                                 f"got {value!r}")
        if d_model % n_heads:
            divisors = [h for h in range(1, min(d_model, 64) + 1) if d_model % h == 0]
            raise ModelError(f"{self.name}: d_model={d_model} is not divisible by n_heads={n_heads}; "
                             f"valid n_heads for this d_model include {divisors}")
        if causal and not self.supports_causal:
            raise ModelError(f"{self.name} has no causal form; use causal=False or another model "
                             f"(e.g. fastformer, linear, softmax)")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.causal = bool(causal)
        self.max_len: int | None = None

    def add_projections(self, *, value: bool = True) -> None:
        """The d_model -> d_model projections every layer shares by name: to_q, to_k, to_v (unless the
        layer has no value projection), to_out; shared names let weights be copied between models."""
        self.to_q = nn.Linear(self.d_model, self.d_model)
        self.to_k = nn.Linear(self.d_model, self.d_model)
        if value:
            self.to_v = nn.Linear(self.d_model, self.d_model)
        self.to_out = nn.Linear(self.d_model, self.d_model)

    def check_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        """Raise ModelError unless x is (batch, seq, d_model) floating point and mask fits it."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelError(f"{self.name}: input must have shape (batch, seq, {self.d_model}), got {shape}")
        if x.shape[-1] != self.d_model:
            raise ModelError(f"{self.name}: input last dimension is {x.shape[-1]}, "
                             f"but the layer was built with d_model={self.d_model}")
        if not x.is_floating_point():
            raise ModelError(f"{self.name}: input dtype must be floating point (float32, float64, bfloat16, "
                             f"float16), got {x.dtype}")
        if x.shape[1] == 0:
            raise ModelError(f"{self.name}: sequence length must be at least 1")
        if self.max_len is not None and x.shape[1] > self.max_len:
            raise ModelError(f"{self.name}: sequence length {x.shape[1]} exceeds max_len={self.max_len}; "
                             f"build the layer with max_len >= {x.shape[1]}")
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
                kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ModelError(f"{self.name}: mask must be a bool tensor (True = keep), got {kind}")
            if tuple(mask.shape) != tuple(x.shape[:2]):
                raise ModelError(f"{self.name}: mask shape {tuple(mask.shape)} does not match "
                                 f"(batch, seq) = {tuple(x.shape[:2])}")

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Analytic FLOPs of one forward pass: matmuls at 2 per multiply-add, biases excluded.

        With elementwise=True, an estimate of element-wise and reduction work is added.
        """
        raise NotImplementedError

    def param_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def kernel(self) -> str:
        """Name of the kernel the layer dispatches to; plain PyTorch ops unless a subclass says more."""
        return "aten"

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}"


def int_option(model: str, label: str, value: object, meaning: str, *, minimum: int = 1) -> int:
    """`value` if it is an int >= minimum (0 or 1), else ModelError naming the model, option and meaning."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ModelError(f"{model}: {label} must be {kind} ({meaning}), got {value!r}")
    return value


def masked_fill_value(dtype: torch.dtype) -> float:
    """The most negative finite value of a dtype: used to exclude positions before a softmax."""
    return torch.finfo(dtype).min
