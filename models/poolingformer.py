"""Poolingformer two-level attention (Zhang et al. 2021, arXiv 2105.04371).

Level one is sliding-window softmax attention over nearby tokens. Level two lets each token look
further, over a larger window, but at keys and values that are pooled: the sequence is cut into slots
of `pool_size` tokens every `stride` tokens and each slot is averaged, so a query sees about
2 pool_window / stride pooled keys instead of 2 pool_window tokens. Both levels are banded, so time and
memory are O(N (window + pool_window / stride)).

Why this form: it is the paper's two-level schema in plain PyTorch, computed in chunks of queries
against the contiguous run of keys their band can reach, so it runs on any device, has a backward and
counts its FLOPs exactly. Level two's window is two-sided, so there is no causal form.

Stated assumptions (the paper's text was not at hand offline when this was written; check against its
section 3): level two's queries are projected from level one's output and its keys and values from the
pooled input, and the layer returns to_out(level one + level two); pooling is a masked mean (the paper
also tries max and lightweight-convolution pooling); defaults are its NQ setting as we read it
(first-level window 128 and second-level window 512 in total, pooling kernel (slot) size 5, stride 4).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.base import Attention, int_option, masked_fill_value
from models.registry import register
from models.softmax import merge_heads, split_heads


def _band_layout(n: int, m: int, window: int, step: int) -> tuple[int, int, int]:
    """(query chunk c, number of chunks G, keys per chunk K) for n queries against m keys at positions
    0, step, 2 step, ... when query i may see key positions within `window` of i."""
    c = min(window, n)
    return c, -(-n // c), min(m, (c - 1 + 2 * window) // step + 2)


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_keep: torch.Tensor,
                     window: int, step: int) -> torch.Tensor:
    """Softmax attention of query i over the kept keys m with |i - m step| <= window; q already scaled.

    q (B, h, N, d_h); k, v (B, h, M, d_h); key_keep (B, M) bool. Queries go in chunks of c tokens, each
    against the K consecutive keys its band can reach, so the largest tensor is the scores, B h G c K:
    linear in N. A query with no key it may see gets zeros.
    """
    b, h, n, dh = q.shape
    m = k.shape[2]
    c, g, keys = _band_layout(n, m, window, step)
    device = q.device
    q_pos = torch.arange(g * c, device=device).view(g, c)
    first = torch.div(q_pos[:, 0] - window, step, rounding_mode="floor").clamp(0, m - keys)
    index = first[:, None] + torch.arange(keys, device=device)            # (G, K), all in [0, M)
    distance = q_pos[:, :, None] - index[:, None, :] * step
    allowed = (distance.abs() <= window)[None, None] & key_keep[:, index][:, None, :, None, :]
    chunks = F.pad(q, (0, 0, 0, g * c - n)).view(b, h, g, c, dh)
    scores = chunks @ k[:, :, index].transpose(-2, -1)
    scores = scores.masked_fill(~allowed, masked_fill_value(scores.dtype))
    probs = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
    return (probs @ v[:, :, index]).view(b, h, g * c, dh)[:, :, :n]


@register
class PoolingformerAttention(Attention):
    """Two-level attention: a sliding window over tokens, then a wider window over mean-pooled slots.

    Rule, with x the input and kept tokens those the mask keeps:
      level one:  y_i = softmax over kept j with |i - j| <= window of (q_i . k_j), weighting v_j,
                  with q, k, v = to_q(x), to_k(x), to_v(x);
      pooling:    slot p (p = 0 .. ceil(N / stride) - 1) holds tokens [p stride, p stride + pool_size)
                  within the sequence; x̄_p is the mean of its kept tokens; a slot with none is empty;
      level two:  z_i = softmax over non-empty p with |i - p stride| <= pool_window of (q2_i . k2_p),
                  weighting v2_p, with q2 = to_q2(y), k2 = to_k2(x̄), v2 = to_v2(x̄) (zero if none);
      output:     to_out(y + z), where y and z are merged over heads and zero at padded query rows.
    Per head as usual (head j uses features [j d_h, (j+1) d_h)); every q is scaled by 1/sqrt(d_h).
    Pooling x before projecting is the same as pooling to_k2(x) (a mean commutes with an affine map)
    and costs N / stride rows instead of N.

    state_dict: to_q, to_k, to_v, to_out (the `softmax` names and shapes) plus to_q2, to_k2, to_v2, each
    nn.Linear(d_model, d_model) with bias. Excluded scores get the dtype's most negative finite value and
    then weight zero, so no row gives NaN.
    """

    name = "poolingformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Poolingformer: sliding-window attention plus a wider window over mean-pooled keys/values"
    supports_causal = False
    option_help = {
        "window": "level one: tokens on each side of a query (64: the paper's 128-token window); the "
                  "Fastformer paper's speed task used 16",
        "pool_window": "level two: token distance on each side within which pooled slots are seen (256: "
                       "the paper's 512-token second window)",
        "pool_size": "tokens per pooled slot (the paper's pooling kernel size; 5)",
        "stride": "tokens between the starts of consecutive slots (pooling stride; 4)",
    }

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, window: int = 64,
                 pool_window: int = 256, pool_size: int = 5, stride: int = 4) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.window = int_option(self.name, "window", window, "tokens on each side, e.g. 64")
        self.pool_window = int_option(self.name, "pool_window", pool_window, "token distance on each side, e.g. 256")
        self.pool_size = int_option(self.name, "pool_size", pool_size, "tokens per pooled slot, e.g. 5")
        self.stride = int_option(self.name, "stride", stride, "tokens between slot starts, e.g. 4")
        self.add_projections()
        self.to_q2 = nn.Linear(d_model, d_model)
        self.to_k2 = nn.Linear(d_model, d_model)
        self.to_v2 = nn.Linear(d_model, d_model)

    def n_slots(self, seq_len: int) -> int:
        """Number of pooled slots for a sequence of seq_len tokens: ceil(N / stride)."""
        return -(-seq_len // self.stride)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Matmul FLOPs of one forward, exactly what FlopCounterMode counts.

        With P = ceil(N / stride) slots and, per level, query chunks c, chunk count G and keys per chunk K
        (c = min(window, N), K = min(keys, (c - 1 + 2 window) / step + 2) with step 1, then stride):

            10 B N d^2             to_q, to_k, to_v, to_q2 and to_out on N rows
          +  4 B P d^2             to_k2 and to_v2 on the P pooled rows
          +  4 B d G1 c1 K1        level one: scores, then the weighted sum
          +  4 B d G2 c2 K2        level two

        elementwise=True adds an estimate: 7 bias additions over each projection's rows, B N d for
        scaling each level's q, B N d for y + z, pooling's B P d pool_size additions and 7 per score entry
        (mask fill, max, subtract, exp, sum, divide, zero fill).
        """
        b, n, d = batch, seq_len, self.d_model
        slots = self.n_slots(n)
        c1, g1, k1 = _band_layout(n, n, self.window, 1)
        c2, g2, k2 = _band_layout(n, slots, self.pool_window, self.stride)
        total = 10 * b * n * d * d + 4 * b * slots * d * d + 4 * b * d * (g1 * c1 * k1 + g2 * c2 * k2)
        if elementwise:
            scores = b * self.n_heads * (g1 * c1 * k1 + g2 * c2 * k2)
            total += 5 * b * n * d + 2 * b * slots * d + 3 * b * n * d + b * slots * d * self.pool_size + 7 * scores
        return total

    def pool(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked mean of each slot of x (B, N, d): (B, P, d) means and (B, P) bool "slot not empty"."""
        n = x.shape[1]
        slots = self.n_slots(n)
        extra = max(0, (slots - 1) * self.stride + self.pool_size - n)
        kept = F.pad(keep, (0, extra)).to(x.dtype)
        sums = F.pad(x * kept[:, :n, None], (0, 0, 0, extra)).unfold(1, self.pool_size, self.stride).sum(-1)
        counts = kept.unfold(1, self.pool_size, self.stride).sum(-1)
        return sums / counts.clamp(min=1.0)[..., None], counts > 0

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Two-level attention; x (B, N, d), mask (B, N) True = keep."""
        self.check_input(x, mask)
        scale = 1.0 / math.sqrt(self.d_head)
        keep = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask
        q = split_heads(self.to_q(x), self.n_heads) * scale
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        y = merge_heads(banded_attention(q, k, v, keep, self.window, 1))
        if mask is not None:
            y = y.masked_fill(~mask[..., None], 0.0)
        pooled, filled = self.pool(x, keep)
        q2 = split_heads(self.to_q2(y), self.n_heads) * scale
        k2 = split_heads(self.to_k2(pooled), self.n_heads)
        v2 = split_heads(self.to_v2(pooled), self.n_heads)
        z = merge_heads(banded_attention(q2, k2, v2, filled, self.pool_window, self.stride))
        out = y + z
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, window={self.window}, pool_window={self.pool_window}, "
                f"pool_size={self.pool_size}, stride={self.stride}")
