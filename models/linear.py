"""Linear attention (Katharopoulos et al. 2020, arXiv 2006.16236) with the elu+1 feature map.

softmax(q k^T) is replaced by phi(q) phi(k)^T, so keys and values are summarised once per head and each
query costs O(m d_h) instead of O(N d_h). The kernel functions here take feature-mapped queries and keys
and are shared with `models.performer`, which only swaps the feature map.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from models.base import Attention, ModelError
from models.registry import register
from models.softmax import merge_heads, split_heads


def check_chunk_size(name: str, chunk_size: object) -> int:
    """Return chunk_size if it is a positive integer, else raise ModelError naming the layer."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ModelError(f"{name}: chunk_size must be a positive integer (tokens per chunk of the causal "
                         f"form, e.g. 64), got {chunk_size!r}")
    return chunk_size


def safe_eps(eps: float, dtype: torch.dtype) -> float:
    """eps raised to the dtype's smallest normal number, so that it never rounds to zero in `dtype`."""
    return max(eps, torch.finfo(dtype).tiny)


SPLIT_TOKENS = 1024


def key_value_summary(phi_k: torch.Tensor, v: torch.Tensor, *, split_tokens: int = SPLIT_TOKENS) -> torch.Tensor:
    """sum_j phi_k_j v_j^T, (B, h, N, m) and (B, h, N, e) -> (B, h, m, e), as split-K products.

    A single (m x e) GEMM with K = N has almost no parallel work at batch 1 and long N (on an H200 its
    time at a fixed token count doubled from N = 4096 to 65,536). So when N >= 2 L (L = split_tokens,
    default SPLIT_TOKENS = 1024), each head's first S L tokens (S = N // L) are cut into S chunks whose
    partial (m x e) states are one batched product of B S GEMMs with K = L, summed over the chunks; the
    last N mod L tokens of all heads are one more product. That gives a GPU B S tiles per product
    (S = 64 at N = 65,536) instead of one tile per head. Heads are looped over because for a tensor in
    the `split_heads` layout (v always, phi_k here) one head's chunks are a single strided batch, with
    no copy, while the chunks of all heads are not (a copy costs a CPU more than the product itself).
    On one CPU thread it measured no slower at width 256 / 16 heads, N = 4096 and 65,536, but 5-12 %
    slower than one product at width 64 / 4 heads, N = 2048 (per-head loop overhead). Matmul FLOPs stay exactly
    2 B h N m e, as for one product; the sum over chunks is element-wise work.
    """
    b, h, n, m = phi_k.shape
    e = v.shape[-1]
    s = n // split_tokens
    if s < 2:
        return phi_k.transpose(-2, -1) @ v
    split = s * split_tokens
    heads = []
    for j in range(h):
        k_chunks = phi_k[:, j, :split].reshape(b * s, split_tokens, m)
        v_chunks = v[:, j, :split].reshape(b * s, split_tokens, e)
        heads.append((k_chunks.transpose(-2, -1) @ v_chunks).view(b, s, m, e).sum(dim=1))
    kv = torch.stack(heads, dim=1)
    if split < n:
        kv = kv + phi_k[:, :, split:].transpose(-2, -1) @ v[:, :, split:]
    return kv


def linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, *,
                     eps: float) -> torch.Tensor:
    """Non-causal: out_i = phi_q_i^T (sum_j phi_k_j v_j^T) / (phi_q_i^T sum_j phi_k_j + eps).

    phi_q, phi_k: (B, h, N, m) non-negative features (zero rows for padded keys); v: (B, h, N, e).
    Matmuls: the (m, e) summary (split-K, see `key_value_summary`), its product with the queries and the
    normaliser, 2 B h N m (2e + 1).
    """
    kv = key_value_summary(phi_k, v)
    num = phi_q @ kv
    den = phi_q @ phi_k.sum(dim=2).unsqueeze(-1)
    return num / (den + safe_eps(eps, den.dtype))


def causal_linear_attention(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor, *, chunk_size: int,
                            eps: float) -> torch.Tensor:
    """Causal, chunked: out_i = phi_q_i^T (sum_{j<=i} phi_k_j v_j^T) / (phi_q_i^T sum_{j<=i} phi_k_j + eps).

    The sequence is cut into chunks of C = min(chunk_size, N) tokens (zero-padded to a multiple of C).
    Inside a chunk a masked C x C product handles j <= i; earlier chunks enter through an exclusive prefix
    sum of per-chunk (m, e) states. Largest intermediates: B h N C (chunk scores) and B h (N / C) m e
    (chunk states); no per-position m x e state is ever built.
    """
    b, h, n, m = phi_q.shape
    e = v.shape[-1]
    c = min(chunk_size, n)
    g = -(-n // c)
    pad = g * c - n
    if pad:
        phi_q, phi_k, v = (F.pad(t, (0, 0, 0, pad)) for t in (phi_q, phi_k, v))
    q = phi_q.reshape(b, h, g, c, m)
    k = phi_k.reshape(b, h, g, c, m)
    v = v.reshape(b, h, g, c, e)
    future = torch.ones(c, c, dtype=torch.bool, device=q.device).triu(1)
    scores = (q @ k.transpose(-2, -1)).masked_fill(future, 0.0)
    num = scores @ v
    den = scores.sum(dim=-1, keepdim=True)
    states = k.transpose(-2, -1) @ v
    sums = k.sum(dim=3).unsqueeze(-1)
    num = num + q @ F.pad(states[:, :, :-1], (0, 0, 0, 0, 1, 0)).cumsum(dim=2)
    den = den + q @ F.pad(sums[:, :, :-1], (0, 0, 0, 0, 1, 0)).cumsum(dim=2)
    out = num / (den + safe_eps(eps, den.dtype))
    return out.reshape(b, h, g * c, e)[:, :, :n]


def padded_length(seq_len: int, chunk_size: int) -> int:
    """Length the causal form works on: N rounded up to a multiple of C = min(chunk_size, N)."""
    c = min(chunk_size, seq_len)
    return -(-seq_len // c) * c


def kernel_flops(batch: int, n_heads: int, seq_len: int, m: int, e: int, *, causal: bool,
                 chunk_size: int) -> int:
    """Matmul FLOPs of `linear_attention` / `causal_linear_attention` with m features and value width e.

    Non-causal: 2 B h N m (2e + 1). Causal with C = min(chunk_size, N), N' = padded_length:
    2 B h N' C (m + e) inside chunks plus 2 B h N' m (2e + 1) for chunk states, their product with the
    queries and the normaliser against the prefix sums of keys.
    """
    bh = batch * n_heads
    if not causal:
        return bh * seq_len * 2 * m * (2 * e + 1)
    c = min(chunk_size, seq_len)
    return bh * padded_length(seq_len, chunk_size) * (2 * c * (m + e) + 2 * m * (2 * e + 1))


def kernel_elementwise_flops(batch: int, n_heads: int, seq_len: int, m: int, e: int, *, causal: bool,
                             chunk_size: int) -> int:
    """Element-wise/reduction estimate of the kernels, one op per element touched.

    Non-causal: key sum B h N m, eps B h N, division B h N e. Causal (N', C, G = N' / C): score mask and
    row sums 2 B h N' C, per-chunk key sums B h N' m, prefix sums B h G m (e + 1), intra + inter adds
    B h N' (e + 1), eps B h N', division B h N' e.
    """
    bh = batch * n_heads
    if not causal:
        return bh * seq_len * (m + 1 + e)
    c = min(chunk_size, seq_len)
    n_pad = padded_length(seq_len, chunk_size)
    return bh * (n_pad * (2 * c + m + 2 * e + 2) + (n_pad // c) * m * (e + 1))


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1: positive, so the normaliser never vanishes while a key is kept."""
    return F.elu(x) + 1.0


@register
class LinearAttention(Attention):
    """Linear attention, phi(x) = elu(x) + 1 per head, no 1/sqrt(d_h) scaling (as in the paper).

    out_i = phi(q_i)^T S / (phi(q_i)^T z + eps), S = sum_j phi(k_j) v_j^T, z = sum_j phi(k_j), with
    j <= i when causal. The causal form is chunked (see `causal_linear_attention`): memory
    O(B h (N C + (N / C) d_h^2)), never B h N d_h^2. Non-causal, S is a split-K product over chunks of
    SPLIT_TOKENS tokens (see `key_value_summary`), so batch 1 at long N still has parallel work.

    eps = 1e-6 (the paper's code), raised to the dtype's smallest normal number so it cannot round to
    zero in float16; it only matters when no key is kept (0 / eps = 0), since the elu+1 normaliser is at
    least (kept keys) x (something positive).

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias;
    head j uses features [j d_h, (j + 1) d_h) of q, k, v. No other parameters or buffers.

    Masks: padded keys get phi(k) = 0 and v = 0 (set, not multiplied, so NaN/inf padding cannot leak),
    so they add nothing to S or z. Padded query rows are computed like any other (finite; 0 if no kept
    key is visible) and are for the caller to ignore.

    FLOPs differ from the reference table in two stated ways: the normaliser phi(q)^T z is a matmul in
    both forms (2 B N d, listed for non-causal only), and the causal form works on N' = N rounded up to a
    multiple of C (equal to N whenever C divides N).
    """

    name = "linear"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Linear attention, elu+1 feature map (Katharopoulos et al. 2020); causal form chunked"
    option_help = {
        "chunk_size": "causal form only: tokens per chunk (masked C x C product inside, running state "
                      "across); memory ~ N*C + (N/C)*d_h^2 per head",
    }
    eps = 1e-6

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, chunk_size: int = 64) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.chunk_size = check_chunk_size(self.name, chunk_size)
        self.add_projections()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, d_model), mask (B, N) with True = keep; returns (B, N, d_model)."""
        self.check_input(x, mask)
        phi_q = elu_feature_map(split_heads(self.to_q(x), self.n_heads))
        phi_k = elu_feature_map(split_heads(self.to_k(x), self.n_heads))
        v = split_heads(self.to_v(x), self.n_heads)
        if mask is not None:
            padded = ~mask[:, None, :, None]
            phi_k = phi_k.masked_fill(padded, 0.0)
            v = v.masked_fill(padded, 0.0)
        if self.causal:
            out = causal_linear_attention(phi_q, phi_k, v, chunk_size=self.chunk_size, eps=self.eps)
        else:
            out = linear_attention(phi_q, phi_k, v, eps=self.eps)
        return self.to_out(merge_heads(out))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """8 B N d^2 + 4 B N d d_h + 2 B N d; causal: 8 B N d^2 + 4 B N' d d_h + 4 B N' C d + 2 B N' d.

        C = min(chunk_size, N), N' = N rounded up to a multiple of C (see `kernel_flops`).

        elementwise=True adds 4 B N d bias additions, 8 B N d for elu+1 on q and k (exp, subtract,
        select, add) and `kernel_elementwise_flops`; mask work (about 2 B N d) is not included.
        """
        d, h, dh = self.d_model, self.n_heads, self.d_head
        total = 8 * batch * seq_len * d * d + kernel_flops(batch, h, seq_len, dh, dh, causal=self.causal,
                                                           chunk_size=self.chunk_size)
        if elementwise:
            total += 12 * batch * seq_len * d + kernel_elementwise_flops(
                batch, h, seq_len, dh, dh, causal=self.causal, chunk_size=self.chunk_size)
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, chunk_size={self.chunk_size}, eps={self.eps:g}"

