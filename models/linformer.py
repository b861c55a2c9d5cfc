"""Linformer (Wang et al. 2020, arXiv 2006.04768): keys and values projected along the sequence to length k.

Cost is linear in N for a fixed k, but the projections E and F are tied to positions up to a built length
`max_len`, so the layer is not permutation-equivariant and has no causal form.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from models.base import Attention, ModelError
from models.registry import register
from models.softmax import attention_elementwise_flops, merge_heads, split_heads


@register
class LinformerAttention(Attention):
    """Softmax attention of every query over k learned mixtures of the positions' keys and values.

    K' = E[:, :N] K and V' = F[:, :N] V with E, F of shape (k, max_len), then per head
    softmax(q K'^T / sqrt(d_h)) V'. E and F are shared across heads but not between keys and values
    (the paper's "headwise sharing"); each layer has its own. An input shorter than max_len uses the first
    N columns of E and F; a longer one raises ModelError. E and F start as N(0, 1 / max_len) so that at
    N = max_len the projected keys keep the keys' scale.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias (same
    names and shapes as `softmax`/`sdpa`, so those weights copy across), plus `proj_k` (E) and `proj_v` (F),
    each (k, max_len).

    Masks: padded keys and values are zeroed after `to_k`/`to_v` and before the projection, so padded
    tokens cannot affect kept outputs. Because every projected key mixes positions, this is not the same
    normalisation as removing the padded tokens: the softmax still spans all k projected keys, which are
    built from columns chosen by the kept tokens' positions, not from the first columns as a shorter
    unpadded input would be. The attention output of padded query rows is set to zero before `to_out`,
    as in `softmax`.
    """

    name = "linformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Linformer: keys/values projected along the sequence to length k by learned E, F"
    option_help = {
        "k": "projected length (the paper's speed task used 16, LRA-style setups 256); at most max_len",
        "max_len": "longest sequence accepted; E, F have max_len columns, shorter inputs use the first N",
    }
    supports_causal = False

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, k: int = 256,
                 max_len: int = 4096) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        for label, value in (("k", k), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ModelError(f"linformer: {label} must be a positive integer, got {value!r}")
        if k > max_len:
            raise ModelError(f"linformer: k={k} exceeds max_len={max_len}; use k <= max_len "
                             f"(projecting to more positions than exist adds cost and nothing else)")
        self.k = k
        self.max_len = max_len
        self.add_projections()
        self.proj_k = nn.Parameter(torch.randn(k, max_len) / math.sqrt(max_len))
        self.proj_v = nn.Parameter(torch.randn(k, max_len) / math.sqrt(max_len))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend over the k projected positions; x (B, N <= max_len, d), mask (B, N) True = keep."""
        self.check_input(x, mask)
        n = x.shape[1]
        q = split_heads(self.to_q(x), self.n_heads)
        keys = self.to_k(x)
        values = self.to_v(x)
        if mask is not None:
            padded = ~mask[..., None]
            keys = keys.masked_fill(padded, 0.0)
            values = values.masked_fill(padded, 0.0)
        k = split_heads(torch.matmul(self.proj_k[:, :n], keys), self.n_heads)
        v = split_heads(torch.matmul(self.proj_v[:, :n], values), self.n_heads)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_head)
        out = merge_heads(torch.matmul(torch.softmax(scores, dim=-1), v))
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """8 B N d^2 for the projections plus 8 B N k d: E K, F V, q K'^T and the weighted sum of V'."""
        d = self.d_model
        total = 8 * batch * seq_len * d * d + 8 * batch * seq_len * self.k * d
        if elementwise:
            total += attention_elementwise_flops(batch, seq_len, self.k, d, self.n_heads, causal=False)
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k}, max_len={self.max_len}"
