"""Tiny contract-following layers for the measurement tests (built by `tests.bench.toy_models:Name`)."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.base import Attention


class ToyLinear(Attention):
    """One bias-free d x d projection: exactly 2 B N d^2 matmul FLOPs forward."""

    name = "toy-linear"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.weight = nn.Parameter(torch.randn(d_model, d_model) / math.sqrt(d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x @ W."""
        self.check_input(x, mask)
        return x @ self.weight

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """2 B N d^2; no element-wise work."""
        return 2 * batch * seq_len * self.d_model ** 2


class ToyAttention(Attention):
    """Single-head softmax attention from bias-free projections: 6 B N d^2 + 4 B N^2 d forward FLOPs."""

    name = "toy-attention"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.wq, self.wk, self.wv = (nn.Parameter(torch.randn(d_model, d_model) / math.sqrt(d_model))
                                     for _ in range(3))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """softmax(q k^T / sqrt(d)) v."""
        self.check_input(x, mask)
        q, k, v = x @ self.wq, x @ self.wk, x @ self.wv
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_model)
        return scores.softmax(dim=-1) @ v

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Three projections plus the two N x N products; softmax ~5 B N^2 when elementwise."""
        total = 6 * batch * seq_len * self.d_model ** 2 + 4 * batch * seq_len ** 2 * self.d_model
        if elementwise:
            total += 5 * batch * seq_len ** 2
        return total

    def kernel(self) -> str:
        return "toy-matmul"


class ToyMisreported(ToyLinear):
    """ToyLinear that claims half its FLOPs, to exercise the disagreement warning."""

    name = "toy-misreported"

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Deliberately wrong: half the true count."""
        return batch * seq_len * self.d_model ** 2


class ToyUserLayer(nn.Module):
    """A user's layer with only the constructor and forward of the contract: no flops, kernel or counts."""

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """A linear map followed by tanh."""
        return torch.tanh(self.proj(x))
