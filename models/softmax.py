"""Textbook multi-head softmax attention that materialises the N x N scores: the paper's "Transformer".

Written as a fair baseline: q is scaled before q k^T (no extra pass over the N x N scores), masks are
applied in place, and in inference the softmax overwrites the scores, so one N x N tensor per batch and
head is alive at a time (in training autograd keeps the probabilities for backward, as it must).

Also home of the head split/merge helpers that the other q/k/v/out layers share.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from models.base import Attention, masked_fill_value
from models.registry import register


def split_heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, seq, d) -> (batch, heads, seq, d / heads); head j holds features [j*d_h, (j+1)*d_h)."""
    b, n, d = t.shape
    return t.view(b, n, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    """(batch, heads, seq, d_h) -> (batch, seq, heads * d_h): heads concatenated in order."""
    b, h, n, dh = t.shape
    return t.transpose(1, 2).reshape(b, n, h * dh)


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Every query over every kept key, q (B, h, M, d_h) already scaled: (B, h, M, N) scores, one softmax.

    For the dense rows of sparse layers (global queries, short inputs); the `softmax` layer itself works
    in place to keep one N x N tensor alive.
    """
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], masked_fill_value(scores.dtype))
    return torch.softmax(scores, dim=-1) @ v


def attention_elementwise_flops(batch: int, seq_len: int, keys: int, d_model: int, n_heads: int,
                                causal: bool) -> int:
    """Element-wise estimate for one q/k/v/out attention layer with `keys` keys per query.

    Terms: 4 B N d bias additions of the four projections, B N d for scaling q by 1 / sqrt(d_h),
    5 B h N keys for the softmax (max, subtract, exp, sum, divide) and, when causal, B h N keys
    for the causal mask. A padding mask would add about B h N keys more; it is not included.
    """
    scores = batch * n_heads * seq_len * keys
    return 5 * batch * seq_len * d_model + 5 * scores + (scores if causal else 0)


@register
class SoftmaxAttention(Attention):
    """Multi-head scaled dot-product attention computed with explicit matmuls and an N x N score tensor.

    state_dict layout (shared with `sdpa`, so weights load across the two): `to_q`, `to_k`, `to_v`,
    `to_out`, each an nn.Linear(d_model, d_model) with bias (`<name>.weight` (d, d), `<name>.bias` (d,)).
    Head j uses features [j*d_h, (j+1)*d_h) of q, k and v; head outputs are concatenated in head order
    before `to_out`. There is no residual connection.

    Masking: keys whose mask is False are excluded, and with causal=True so are future keys. The
    attention output of a padded query row is set to zero before `to_out`, so the layer returns
    `to_out.bias` there; a query row whose every key is excluded can only be such a padded row (a kept
    query always sees itself), so it gives the same finite value, never NaN.
    """

    name = "softmax"
    complexity: ClassVar[dict[str, str | None]] = {"time": "quadratic", "memory": "quadratic"}
    description = "textbook multi-head softmax attention materialising the N x N scores (paper's Transformer)"
    option_help: dict[str, str] = {}

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.add_projections()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend over all kept (and, if causal, non-future) tokens; x (B, N, d), mask (B, N) True = keep.

        Peak memory: the (B, h, N, N) scores plus, only while autograd records (training), the
        probabilities it saves for backward; in inference softmax runs in place on the scores.
        """
        self.check_input(x, mask)
        n = x.shape[1]
        q = split_heads(self.to_q(x), self.n_heads) * (1.0 / math.sqrt(self.d_head))
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        scores = torch.matmul(q, k.transpose(-2, -1))
        if mask is not None:
            scores.masked_fill_(~mask[:, None, None, :], masked_fill_value(scores.dtype))
        if self.causal:
            future = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
            scores.masked_fill_(future, masked_fill_value(scores.dtype))
        # The masks above are in place (q k^T is not saved for backward); softmax's backward needs its
        # output, so only without autograd may it overwrite the scores; with it, the scores die here.
        if scores.requires_grad:
            probs = torch.softmax(scores, dim=-1)
        else:
            probs = torch.softmax(scores, dim=-1, out=scores)
        del scores
        out = merge_heads(torch.matmul(probs, v))
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """8 B N d^2 for the four projections plus 4 B N^2 d for q k^T and the weighted sum of v."""
        d = self.d_model
        total = 8 * batch * seq_len * d * d + 4 * batch * seq_len * seq_len * d
        if elementwise:
            total += attention_elementwise_flops(batch, seq_len, seq_len, d, self.n_heads, self.causal)
        return total
