"""Transformer layers around any attention model: pre-LayerNorm attention and feed-forward, stacked.

The paper times single layers, but a trained model is a stack; `Stack(share_layers=True)` reproduces
Fastformer's layer-wise sharing (one set of parameters reused in every layer). This module registers
nothing: a block wraps a registered attention, it is not one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from models.base import Attention, ModelError
from models.registry import build

FFN_EXPANSION = 4
# Element-wise work per token and model dimension, for flops(elementwise=True): two layer norms
# (mean, centre, square, variance, normalise, scale, shift: about 8 each), GELU on the 4d hidden
# units (about 8 each), the two feed-forward biases (4d + d) and the two residual adds.
_ELEMENTWISE_PER_TOKEN_DIM = 2 * 8 + 8 * FFN_EXPANSION + (FFN_EXPANSION + 1) + 2


class Block(nn.Module):
    """One pre-LayerNorm Transformer layer: x + attn(LN(x)), then h + FFN(LN(h)) with a 4d GELU MLP."""

    def __init__(self, attention: nn.Module, d_model: int) -> None:
        super().__init__()
        if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model <= 0:
            raise ModelError(f"block: d_model must be a positive integer, got {d_model!r}")
        attn_width = getattr(attention, "d_model", d_model)
        if attn_width != d_model:
            raise ModelError(f"block: attention was built with d_model={attn_width} but the block with "
                             f"d_model={d_model}; build both with the same width")
        self.d_model = d_model
        self.norm_attn = nn.LayerNorm(d_model)
        self.attention = attention
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, FFN_EXPANSION * d_model), nn.GELU(),
                                 nn.Linear(FFN_EXPANSION * d_model, d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the layer; `mask` (batch, seq) bool, True = keep, is passed to the attention."""
        if isinstance(self.attention, Attention):
            self.attention.check_input(x, mask)
        elif not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelError(f"block: input must have shape (batch, seq, {self.d_model}), got {shape}")
        h = x + self.attention(self.norm_attn(x), mask=mask)
        return h + self.ffn(self.norm_ffn(h))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Attention FLOPs plus the feed-forward matmuls (16 B N d^2); elementwise adds norms, GELU, adds."""
        attn_flops = getattr(self.attention, "flops", None)
        if attn_flops is None:
            raise ModelError(f"block: attention {type(self.attention).__name__} has no flops(batch, seq_len) "
                             f"method; add one to count the block's FLOPs")
        total = attn_flops(batch, seq_len, elementwise=elementwise)
        total += 2 * 2 * batch * seq_len * self.d_model * FFN_EXPANSION * self.d_model
        if elementwise:
            total += _ELEMENTWISE_PER_TOKEN_DIM * batch * seq_len * self.d_model
        return total

    def param_count(self) -> int:
        """Trainable parameters of the layer (attention, both layer norms and the feed-forward)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def kernel(self) -> str:
        """The attention's kernel: the feed-forward and layer norms are plain aten ops."""
        kernel = getattr(self.attention, "kernel", None)
        return kernel() if callable(kernel) else "aten"


class Stack(nn.Module):
    """`n_layers` blocks applied in order; with `share_layers` one block's parameters serve every layer."""

    def __init__(self, make_block: Callable[[], Block], n_layers: int, *, share_layers: bool = False) -> None:
        super().__init__()
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ModelError(f"stack: n_layers must be an integer >= 1, got {n_layers!r}")
        if not isinstance(share_layers, bool):
            raise ModelError(f"stack: share_layers must be True or False, got {share_layers!r}")
        self.n_layers = n_layers
        self.share_layers = share_layers
        self.layers = nn.ModuleList(make_block() for _ in range(1 if share_layers else n_layers))
        self.d_model = self.layers[0].d_model

    def blocks(self) -> list[Block]:
        """The block applied at each depth, in order (the same object repeated when layers are shared)."""
        return [self.layers[0 if self.share_layers else i] for i in range(self.n_layers)]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run every layer in turn with the same mask."""
        for block in self.blocks():
            x = block(x, mask=mask)
        return x

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """n_layers times one block's FLOPs: sharing saves parameters, not work."""
        return self.n_layers * self.layers[0].flops(batch, seq_len, elementwise=elementwise)

    def param_count(self) -> int:
        """Trainable parameters, each shared tensor counted once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def kernel(self) -> str:
        """The kernel of the attention inside the blocks."""
        return self.layers[0].kernel()

    def extra_repr(self) -> str:
        return f"n_layers={self.n_layers}, share_layers={self.share_layers}"


def build_block(name: str, d_model: int, n_heads: int, *, causal: bool = False, n_layers: int = 1,
                share_layers: bool = False, **options: object) -> Stack:
    """A stack of Transformer layers around the attention model `name` (built once per distinct layer)."""
    def make_block() -> Block:
        return Block(build(name, d_model, n_heads, causal=causal, **options), d_model)

    return Stack(make_block, n_layers, share_layers=share_layers)
