"""cosFormer (Qin et al. 2022, arXiv 2202.08791): ReLU linear attention with a cos-based re-weighting.

The similarity of query i and key j is relu(q_i) . relu(k_j) cos(pi (i - j) / 2M); since
cos(a - b) = cos a cos b + sin a sin b it factorises into features of 2 d_h per token, and the attention
is the linear attention kernel of `models.linear` with that feature map (O(N), causal form chunked).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from models.base import Attention
from models.linear import (
    causal_linear_attention,
    check_chunk_size,
    kernel_elementwise_flops,
    kernel_flops,
    linear_attention,
)
from models.registry import register
from models.softmax import merge_heads, split_heads


def position_angles(mask: torch.Tensor | None, seq_len: int, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    """pi i / 2M for every token, (B or 1, N): i = rank among the kept tokens (0-based), M = kept count.

    Without a mask i is the position and M = N. Computed in at least float32 (a bfloat16 rank would be
    rounded), so angles stay in [0, pi/2) and cos, sin >= 0.
    """
    work = torch.promote_types(dtype, torch.float32)
    if mask is None:
        return torch.arange(seq_len, dtype=work, device=device)[None, :] * (math.pi / (2 * seq_len))
    rank = (mask.cumsum(dim=1) - 1).to(work)
    kept = mask.sum(dim=1, keepdim=True).clamp_min(1).to(work)
    return rank * (math.pi / 2) / kept


def cos_feature_map(t: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """(B, h, N, d_h) -> (B, h, N, 2 d_h): [relu(t_i) cos(angle_i), relu(t_i) sin(angle_i)]."""
    r = torch.relu(t)
    cos = torch.cos(angles)[:, None, :, None].to(t.dtype)
    sin = torch.sin(angles)[:, None, :, None].to(t.dtype)
    return torch.cat([r * cos, r * sin], dim=-1)


@register
class CosformerAttention(Attention):
    """cosFormer attention: relu features re-weighted by cos(pi (i - j) / 2M), no 1/sqrt(d_h) scaling.

    out_i = sum_j s_ij v_j / (sum_j s_ij + eps), s_ij = relu(q_i) . relu(k_j) cos(pi (i - j) / 2M), with
    j <= i when causal, computed as linear attention on the features [relu(x_i) cos(pi i / 2M),
    relu(x_i) sin(pi i / 2M)] (the paper's decomposition, in O(N); the causal form is chunked, see
    `models.linear.causal_linear_attention`).

    M is the sequence length, as in the paper: the number of kept tokens L of the row (N without a mask),
    and i counts kept tokens only, so |i - j| < M and every weight is positive. In the causal form M is
    therefore the length of the whole input: outputs do not depend on later tokens' values, but an input
    cut to a prefix has a different M, so prefix outputs are not those of a shorter call (as in the
    official code, which uses M = max(source, target length)).

    eps = 1e-6 as in `linear` (raised to the dtype's smallest normal number). Unlike elu+1, relu features
    can give a zero normaliser for a kept query (relu(q_i) = 0, or no overlap with any key): its attention
    output is then 0 / eps = 0.

    Masks: q, k and v of padded tokens are set to zero (set, not multiplied: NaN/inf padding cannot leak),
    so padded keys add nothing and padded query rows give attention output 0 (the layer returns
    `to_out.bias` there). With positions counted over kept tokens, kept outputs equal a run on the kept
    tokens alone wherever the padding sits.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias; head
    j uses features [j d_h, (j + 1) d_h) of q, k, v. No other parameters or buffers.
    """

    name = "cosformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "cosFormer: relu linear attention with cos re-weighting (Qin et al. 2022); causal chunked"
    option_help = {
        "chunk_size": "causal form only: tokens per chunk, as for `linear`",
    }
    eps = 1e-6

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, chunk_size: int = 64) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self.add_projections()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, d_model), mask (B, N) with True = keep; returns (B, N, d_model)."""
        self.check_input(x, mask)
        q = split_heads(self.to_q(x), self.n_heads)
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        if mask is not None:
            padded = ~mask[:, None, :, None]
            q, k, v = (t.masked_fill(padded, 0.0) for t in (q, k, v))
        angles = position_angles(mask, x.shape[1], x.dtype, x.device)
        phi_q, phi_k = cos_feature_map(q, angles), cos_feature_map(k, angles)
        if self.causal:
            out = causal_linear_attention(phi_q, phi_k, v, chunk_size=self.chunk_size, eps=self.eps)
        else:
            out = linear_attention(phi_q, phi_k, v, eps=self.eps)
        return self.to_out(merge_heads(out))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """8 B N d^2 + `kernel_flops` with 2 d_h features and value width d_h.

        Non-causal: 8 B N d^2 + 8 B N d d_h + 4 B N d. Causal (C = min(chunk_size, N), N' = N rounded up to a
        multiple of C): 8 B N d^2 + 8 B N' d d_h + 6 B N' C d + 4 B N' d.
        elementwise=True adds 4 B N d bias additions, 2 B N d for relu, 4 B N d for the cos/sin weighting,
        3 N for the angles and their cos/sin, and `kernel_elementwise_flops`; mask work is not included.
        """
        d, h, dh = self.d_model, self.n_heads, self.d_head
        total = 8 * batch * seq_len * d * d + kernel_flops(batch, h, seq_len, 2 * dh, dh, causal=self.causal,
                                                           chunk_size=self.chunk_size)
        if elementwise:
            total += 10 * batch * seq_len * d + 3 * seq_len + kernel_elementwise_flops(
                batch, h, seq_len, 2 * dh, dh, causal=self.causal, chunk_size=self.chunk_size)
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, chunk_size={self.chunk_size}, eps={self.eps:g}"
