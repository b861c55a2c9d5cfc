"""A user-style attention layer that follows the contract but is not registered.

It is what a user would write in their own package and pass as `package.module:ClassName`; the tests
build it by that form to prove the registry's import path works.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.base import Attention, masked_fill_value


class TinyAttention(Attention):
    """Plain softmax attention from explicit matmuls: the smallest layer that honours every contract."""

    name = "tiny"
    description = "test-only softmax attention built from explicit matmuls"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.to_q = nn.Linear(d_model, d_model)
        self.to_k = nn.Linear(d_model, d_model)
        self.to_v = nn.Linear(d_model, d_model)
        self.to_out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Multi-head softmax attention; masked keys and (when causal) future keys get zero weight."""
        self.check_input(x, mask)
        batch, seq, _ = x.shape
        q, k, v = (proj(x).view(batch, seq, self.n_heads, self.d_head).transpose(1, 2)
                   for proj in (self.to_q, self.to_k, self.to_v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)
        keep = torch.ones(seq, seq, dtype=torch.bool, device=x.device)
        if self.causal:
            keep = torch.tril(keep)
        keep = keep.expand(batch, 1, seq, seq)
        if mask is not None:
            keep = keep & mask[:, None, None, :]
        scores = scores.masked_fill(~keep, masked_fill_value(scores.dtype))
        out = scores.softmax(dim=-1) @ v
        return self.to_out(out.transpose(1, 2).reshape(batch, seq, self.d_model))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Four d x d projections plus the two N x N products: 8 B N d^2 + 4 B N^2 d."""
        total = 8 * batch * seq_len * self.d_model ** 2 + 4 * batch * seq_len ** 2 * self.d_model
        if elementwise:
            total += 5 * batch * self.n_heads * seq_len ** 2
        return total
