"""Performer FAVOR+ (Choromanski et al. 2021, arXiv 2009.14794): positive orthogonal random features.

exp(q . k / sqrt(d_h)) is estimated by phi(q')^T phi(k') with q' = q d_h^-1/4, k' = k d_h^-1/4 and
phi(x) = exp(W x - |x|^2 / 2) / sqrt(m), W (m, d_h) drawn once. The attention itself is the linear
attention kernel of `models.linear` with this feature map.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from models.base import Attention, ModelError
from models.linear import (
    causal_linear_attention,
    check_chunk_size,
    kernel_elementwise_flops,
    kernel_flops,
    linear_attention,
)
from models.registry import register
from models.softmax import merge_heads, split_heads


def default_n_features(d_head: int) -> int:
    """floor(d_h ln d_h), the Performer paper's default, and at least 1 (d_h = 1 would give 0)."""
    return max(1, math.floor(d_head * math.log(d_head)))


def orthogonal_random_features(n_features: int, d_head: int, seed: int) -> torch.Tensor:
    """W (n_features, d_head): blocks of d_head orthonormal rows, each row rescaled to a chi(d_head) norm.

    Each block is the Q of a QR decomposition of a Gaussian matrix, signs fixed by diag(R) so that it is
    Haar-distributed; norms are those of independent Gaussian vectors, so each row has the marginal law of
    a Gaussian row while rows within a block are exactly orthogonal. Drawn in float64 on the CPU from
    `torch.Generator().manual_seed(seed)`: the same seed gives the same W (up to LAPACK rounding
    across platforms).
    """
    generator = torch.Generator().manual_seed(seed)
    n_blocks = -(-n_features // d_head)
    gaussian = torch.randn(n_blocks, d_head, d_head, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    rows = q.transpose(-2, -1).reshape(n_blocks * d_head, d_head)[:n_features]
    norms = torch.randn(n_features, d_head, generator=generator, dtype=torch.float64).norm(dim=1)
    return rows * norms[:, None]


@register
class PerformerAttention(Attention):
    """FAVOR+ attention with m fixed positive orthogonal random features per head (W shared by heads).

    out_i = phi(q_i')^T sum_j phi(k_j') v_j^T / (phi(q_i')^T sum_j phi(k_j') + eps), j <= i when causal
    (chunked like `linear`). W is a buffer drawn once from `seed`: never redrawn, also in training.

    Stabilisers (constant factors that cancel between numerator and denominator). Keys subtract, per
    feature r, c_r = max over kept positions of w_r^T k' - |k'|^2 / 2 (global over positions: it must be
    the same for every j in a sum); queries add c_r back and subtract their own row max over r (per row:
    one factor common to the numerator and denominator of that row). The product of the two features
    for (i, j, r) is thus unchanged, every feature is <= 1 (no overflow), and each query's largest term
    over all keys and features is exactly 1, so underflow only drops terms below about e^-87 (float32) of
    it. -|q'|^2 / 2 and 1 / sqrt(m) are per-row and global constants and are dropped. In the causal form
    c_r includes later positions: it cancels exactly, so later tokens change earlier outputs only by
    rounding, unless every key an early query sees lies far (about 87 in the exponent, float32) below
    a later key, which underflows its terms (measured in float32 at d_h = 8 once q, k coordinates have a
    standard deviation above about 10). A causal-exact stabiliser needs a sequential scan over chunks;
    Google's reference FAVOR+ code also takes the key max over the whole sequence.

    eps: the stabilisers rescale the denominator by an arbitrary positive factor, so a fixed eps such as
    1e-6 would bias the ratio; eps is the dtype's smallest normal number, which only turns 0 / 0 (no kept
    key visible) into 0 and leaves any positive denominator exact to rounding.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias, and
    the buffer `features` (m, d_h), the unscaled W (the d_h^-1/4 data scaling is applied to W at use).

    Masks: padded keys get phi(k) = 0 and v = 0 and are excluded from the key max.
    """

    name = "performer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Performer FAVOR+: fixed positive orthogonal random features (Choromanski et al. 2021)"
    option_help = {
        "n_features": "random features m per head; default floor(d_h ln d_h)",
        "seed": "seed of the generator that draws the fixed features (no redraw, also while training)",
        "chunk_size": "causal form only: tokens per chunk, as for `linear`",
    }

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, n_features: int | None = None,
                 seed: int = 0, chunk_size: int = 64) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        if n_features is None:
            n_features = default_n_features(self.d_head)
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ModelError(f"performer: n_features must be a positive integer or None (for the default "
                             f"floor(d_h ln d_h) = {default_n_features(self.d_head)}), got {n_features!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ModelError(f"performer: seed must be a non-negative integer, got {seed!r}")
        self.n_features = n_features
        self.seed = seed
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self.add_projections()
        features = orthogonal_random_features(n_features, self.d_head, seed)
        self.register_buffer("features", features.to(self.to_q.weight))

    def feature_maps(self, q: torch.Tensor, k: torch.Tensor,
                     mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stabilised positive features of queries and keys, (B, h, N, d_h) -> (B, h, N, m).

        Returns phi(q') and phi(k') up to positive factors that cancel in the attention ratio (see the
        class docstring); padded keys (mask False) get zero features and do not enter the key max.
        """
        scale = self.d_head ** -0.25
        w = self.features * scale
        k_logits = k @ w.T - (k.square().sum(dim=-1, keepdim=True) * (scale * scale / 2))
        if mask is not None:
            k_logits = k_logits.masked_fill(~mask[:, None, :, None], float("-inf"))
        k_max = k_logits.detach().amax(dim=-2, keepdim=True)
        k_max = torch.where(torch.isfinite(k_max), k_max, torch.zeros_like(k_max))
        q_logits = q @ w.T + k_max
        q_features = torch.exp(q_logits - q_logits.detach().amax(dim=-1, keepdim=True))
        return q_features, torch.exp(k_logits - k_max)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, d_model), mask (B, N) with True = keep; returns (B, N, d_model)."""
        self.check_input(x, mask)
        q = split_heads(self.to_q(x), self.n_heads)
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        phi_q, phi_k = self.feature_maps(q, k, mask)
        if mask is not None:
            v = v.masked_fill(~mask[:, None, :, None], 0.0)
        eps = torch.finfo(x.dtype).tiny
        if self.causal:
            out = causal_linear_attention(phi_q, phi_k, v, chunk_size=self.chunk_size, eps=eps)
        else:
            out = linear_attention(phi_q, phi_k, v, eps=eps)
        return self.to_out(merge_heads(out))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """8 B N d^2 + 4 B N m d (feature maps of q and k) + `kernel_flops` with m features, value width d_h.

        Non-causal this is the reference P + 8 B N m d + 2 B h N m exactly. Causal (C = min(chunk_size, N),
        N' = N rounded up to a multiple of C): P + 4 B N m d + 4 B N' m d + 2 B h N' m + 2 B N' C (h m + d).
        elementwise=True adds 4 B N d bias additions, 2 B N d for |k|^2, 8 B h N m for the feature maps
        (keys: subtract |k|^2 / 2, max, subtract, exp; queries: add the key max, max, subtract, exp)
        and `kernel_elementwise_flops`; mask work is not included.
        """
        d, h, dh, m = self.d_model, self.n_heads, self.d_head, self.n_features
        total = 8 * batch * seq_len * d * d + 4 * batch * seq_len * m * d
        total += kernel_flops(batch, h, seq_len, m, dh, causal=self.causal, chunk_size=self.chunk_size)
        if elementwise:
            total += 6 * batch * seq_len * d + 8 * batch * h * seq_len * m
            total += kernel_elementwise_flops(batch, h, seq_len, m, dh, causal=self.causal,
                                              chunk_size=self.chunk_size)
        return total

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, n_features={self.n_features}, seed={self.seed}, "
                f"chunk_size={self.chunk_size}")
