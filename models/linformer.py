"""Linformer (Wang et al. 2020, arXiv 2006.04768): keys and values projected along the sequence to length k.

Cost is linear in N for a fixed k, but the projections E and F are tied to positions up to a built length
`max_len`, so the layer is not permutation-equivariant and has no causal form.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.base import Attention, ModelError
from models.registry import register
from models.softmax import merge_heads, split_heads


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
        """Attend over the k projected positions; x (B, N <= max_len, d), mask (B, N) True = keep.

        The sequence projection runs first, on the input: E (x W_k^T + b_k) = (E x) W_k^T + (E 1) b_k, so
        the key and value projections act on k rows instead of N (exact; padded rows of x are zeroed and
        dropped from E 1 first, which is E applied to the padded-to-zero keys)."""
        self.check_input(x, mask)
        n = x.shape[1]
        e, f = self.proj_k[:, :n], self.proj_v[:, :n]
        if mask is None:
            e_sum, f_sum = e.sum(dim=1), f.sum(dim=1)
        else:
            x = x.masked_fill(~mask[..., None], 0.0)
            kept = mask[:, None, :].to(e.dtype)
            e_sum, f_sum = (e * kept).sum(dim=-1), (f * kept).sum(dim=-1)
        keys = F.linear(torch.matmul(e, x), self.to_k.weight) + e_sum[..., None] * self.to_k.bias
        values = F.linear(torch.matmul(f, x), self.to_v.weight) + f_sum[..., None] * self.to_v.bias
        q = split_heads(self.to_q(x) * (1.0 / math.sqrt(self.d_head)), self.n_heads)
        scores = torch.matmul(q, split_heads(keys, self.n_heads).transpose(-2, -1))
        out = merge_heads(torch.matmul(torch.softmax(scores, dim=-1), split_heads(values, self.n_heads)))
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """4 B N d^2 (to_q, to_out) + 4 B N k d (E x, F x) + 4 B k d^2 (to_k, to_v on the k projected rows)
        + 4 B N k d (q K'^T and the weighted sum of V') = 4 B N d^2 + 8 B N k d + 4 B k d^2.

        elementwise=True adds an estimate: 2 B N d bias additions of to_q and to_out, 2 B k d for the
        projected biases, B N d for scaling q and 5 B h N k for the softmax over k keys."""
        d, k = self.d_model, self.k
        total = 4 * batch * seq_len * d * d + 8 * batch * seq_len * k * d + 4 * batch * k * d * d
        if elementwise:
            total += 3 * batch * seq_len * d + 2 * batch * k * d + 5 * batch * self.n_heads * seq_len * k
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k}, max_len={self.max_len}"
