"""Fastformer additive attention (Wu et al. 2021, arXiv 2108.09084), exactly as the paper defines it.

Per head (head size d_h, N tokens), with q_i = W_q x_i + b_q, k_i = W_k x_i + b_k, v_i = q_i (query-value
sharing, the paper's default) or W_v x_i + b_v:

    alpha_i = softmax_i(w_q . q_i / sqrt(d_h)),   g_q = sum_i alpha_i q_i         (query pooling)
    p_i     = g_q * k_i                                                            (element-wise)
    beta_i  = softmax_i(w_k . p_i / sqrt(d_h)),   g_k = sum_i beta_i p_i          (key pooling of p_i)
    u_i     = g_k * v_i,                          out_i = W_r u_i + b_r + q_i     (residual is the query)

`scorer="official"` replaces the per-head vectors w_q, w_k by the official code's Linear(d_model -> n_heads)
scorers over the full hidden vector (scaled by 1/sqrt(d_h) as that code does); the flow is unchanged.

`causal=True` is this harness's prefix-pooling ADAPTATION (the paper gives no causal form): g_q(t) pools the
tokens i <= t, p_i = g_q(i) * k_i, and g_k(t) pools p_i for i <= t, all in O(N) time and memory through a
chunked scan with running maxima and log-sum-exp merges (see `_chunk_scan`).
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from models.base import Attention, ModelError, masked_fill_value
from models.registry import register

SCORERS = ("paper", "official")
CHUNK = 32  # tokens per block of the causal scan: memory O(N * CHUNK) per head


class Pooling(NamedTuple):
    """Non-causal pooling internals: weights (batch, heads, seq), global vectors (batch, heads, d_h)."""

    alpha: torch.Tensor
    g_q: torch.Tensor
    beta: torch.Tensor
    g_k: torch.Tensor


def _softmax_dtype(dtype: torch.dtype) -> torch.dtype:
    """Softmax and log-sum-exp run in float32 for 16-bit inputs (stability), else in the input dtype."""
    return torch.float32 if torch.finfo(dtype).bits < 32 else dtype


def _pool_weights(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over tokens (last axis) of (batch, heads, seq) scores; padded tokens, all-padded rows: 0."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    keep = mask[:, None, :]
    weights = torch.softmax(scores.masked_fill(~keep, masked_fill_value(scores.dtype)), dim=-1)
    return weights * keep


def _chunk_scan(scores: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive prefix softmax pooling along the token axis, stable for any score magnitude.

    scores (..., n), values (..., n, e) -> (pooled (..., n, e), log-sum-exp (..., n)) with
    pooled(t) = sum_{i<=t} softmax_{i<=t}(scores)_i values_i. Tokens are cut into chunks of CHUNK; inside a
    chunk the weights are exp(s_i - cummax_t(s)) for i <= t (exponents <= 0, the prefix maximum weighs 1),
    applied by one (CHUNK x CHUNK) @ (CHUNK x e) matmul per chunk. Each chunk's summary (its log-sum-exp and
    pooled vector) is one pseudo-token of a shorter sequence, scanned by recursion, and merged into the next
    chunk with a log-add-exp. Every exponent is a difference of two scores, as in a plain softmax, so
    float32 keeps softmax accuracy (a running logcumsumexp loses digits in proportion to |score|).
    Work and memory: O(n * CHUNK) per row, never n x n; the recursion depth is log_CHUNK(n).
    """
    n = scores.shape[-1]
    c = min(CHUNK, n)
    k = -(-n // c)
    fill = torch.finfo(scores.dtype).min / 4
    if k * c != n:
        scores = F.pad(scores, (0, k * c - n), value=fill)
        values = F.pad(values, (0, 0, 0, k * c - n))
    s = scores.unflatten(-1, (k, c))
    running_max = s.cummax(dim=-1).values
    later = torch.ones(c, c, dtype=torch.bool, device=s.device).triu(1)
    weights = (s.unsqueeze(-2) - running_max.unsqueeze(-1)).masked_fill(later, -math.inf).exp()
    norm = weights.sum(dim=-1)
    pooled = torch.matmul(weights, values.unflatten(-2, (k, c))) / norm.unsqueeze(-1)
    lse = running_max + norm.log()
    if k > 1:
        chunk_pooled, chunk_lse = _chunk_scan(lse[..., -1], pooled[..., -1, :])
        prev_lse = F.pad(chunk_lse[..., :-1], (1, 0), value=fill).unsqueeze(-1)
        prev_pooled = F.pad(chunk_pooled[..., :-1, :], (0, 0, 1, 0)).unsqueeze(-2)
        total = torch.logaddexp(prev_lse, lse)
        pooled = ((prev_lse - total).exp().unsqueeze(-1) * prev_pooled
                  + (lse - total).exp().unsqueeze(-1) * pooled)
        lse = total
    return pooled.flatten(-3, -2)[..., :n, :], lse.flatten(-2)[..., :n]


def _chunk_scan_flops(rows: int, n: int, width: int) -> int:
    """Matmul FLOPs of `_chunk_scan` on `rows` independent rows of n tokens with values of size `width`."""
    total = 0
    while True:
        c = min(CHUNK, n)
        k = -(-n // c)
        total += 2 * rows * k * c * c * width
        if k == 1:
            return total
        n = k


def _prefix_pool(scores: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Causal pooling g(t) = sum_{i<=t} softmax_{i<=t}(scores)_i values_i over the kept tokens i <= t.

    scores (batch, heads, seq), values (batch, heads, seq, d_h), in float32 or float64 (autocast is switched
    off so the scan keeps that precision). Padded tokens get a score far below any real one, so they carry
    no weight once a kept token is in the prefix; positions whose prefix holds no kept token pool to zero.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min / 4)
    with torch.autocast(scores.device.type, enabled=False):
        pooled, _ = _chunk_scan(scores, values)
    if mask is not None:
        pooled = pooled * (torch.cumsum(mask, dim=-1) > 0)[:, None, :, None]
    return pooled


@register
class Fastformer(Attention):
    """Fastformer additive attention: two softmax poolings to global vectors, linear in sequence length.

    State dict (d = d_model, h = n_heads, d_h = d / h; heads are contiguous slices of d, head j owns
    features [j*d_h, (j+1)*d_h)):
      to_q.weight (d, d), to_q.bias (d,); to_k.weight (d, d), to_k.bias (d,);
      to_v.weight (d, d), to_v.bias (d,)            only with share_qv=False (otherwise v := q);
      to_out.weight (d, d), to_out.bias (d,)        W_r, b_r;
      w_q (h, d_h), w_k (h, d_h)                    scorer="paper": per-head scoring vectors;
      score_q.weight (h, d), score_q.bias (h,),
      score_k.weight (h, d), score_k.bias (h,)      scorer="official": Linear(d -> h) scorers.
    to_q/to_k/to_v/to_out follow the naming of the harness's other layers, so projections can be copied.

    Initialisation: projections keep PyTorch's nn.Linear defaults (as the other layers here do); scorers
    follow the official code: w_q, w_k and score_*.weight ~ N(0, 0.02), score_*.bias = 0.

    Masks: True keeps a token. Padded tokens get zero pooling weight, so they never influence another
    position's output. Every position, padded or not, still gets an output (its own q_i and v_i with the
    pooled vectors); a row (causal: a prefix) with no kept token pools to zero vectors, so its outputs are
    q_i + b_r: finite, never NaN.

    Precision: matmuls run in the input dtype; scores are upcast to float32 for softmax / log-sum-exp when
    the input is bfloat16 or float16, and the pooling weights (causal: pooled vectors) are cast back.

    Non-causal computation, the same equations and matmul FLOPs with fewer passes over memory: q, k, v
    are projected transposed (batch, d, seq), so each head is a contiguous slab the pooling matmuls read
    in place; p_i is never formed (see `_pool`); and at N >= d the gate g_k and, with query-value
    sharing, the residual are folded into W_r (W_r diag(g_k) + I, d^2 work per batch element), so the
    output is one GEMM.

    causal=True is an ADAPTATION (prefix pooling), not the paper's: see `_chunk_scan`. It keeps O(N)
    time and memory (per-position d-vectors and CHUNK x CHUNK blocks, never N x N or per-position d x d
    tensors).
    """

    name: ClassVar[str] = "fastformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description: ClassVar[str] = ("Fastformer additive attention (arXiv 2108.09084): query/key pooling to "
                                  "global vectors, O(N d); causal is a prefix-pooling adaptation")
    option_help: ClassVar[dict[str, str]] = {
        "share_qv": "query-value sharing as in the paper (value := query, no to_v); False adds W_v",
        "scorer": "'paper': per-head vectors w_q, w_k of size d_h; "
                  "'official': Linear(d_model -> n_heads) scorers over the full hidden vector",
    }

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, share_qv: bool = True,
                 scorer: str = "paper") -> None:
        super().__init__(d_model, n_heads, causal=causal)
        if not isinstance(share_qv, bool):
            raise ModelError(f"{self.name}: share_qv must be True or False, got {share_qv!r}")
        if scorer not in SCORERS:
            raise ModelError(f"{self.name}: unknown scorer {scorer!r}; valid values: "
                             f"{', '.join(repr(s) for s in SCORERS)}")
        self.share_qv = share_qv
        self.scorer = scorer
        self.scale = 1.0 / math.sqrt(self.d_head)
        self.add_projections(value=not share_qv)
        if share_qv:
            self.to_v = None
        if scorer == "paper":
            self.w_q = nn.Parameter(torch.randn(n_heads, self.d_head) * 0.02)
            self.w_k = nn.Parameter(torch.randn(n_heads, self.d_head) * 0.02)
        else:
            self.score_q = nn.Linear(d_model, n_heads)
            self.score_k = nn.Linear(d_model, n_heads)
            for layer in (self.score_q, self.score_k):
                nn.init.normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, seq, d_model) -> (batch, heads, seq, d_head)."""
        b, n, _ = t.shape
        return t.view(b, n, self.n_heads, self.d_head).transpose(1, 2)

    def _merge(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, heads, seq, d_head) -> (batch, seq, d_model)."""
        b, _, n, _ = t.shape
        return t.transpose(1, 2).reshape(b, n, self.d_model)

    def _scores(self, heads: torch.Tensor, which: str) -> torch.Tensor:
        """Scaled pooling scores (batch, heads, seq) in the softmax dtype, computed by a counted matmul."""
        if self.scorer == "paper":
            vector = self.w_q if which == "q" else self.w_k
            raw = torch.matmul(heads, vector.unsqueeze(-1)).squeeze(-1)
        else:
            layer = self.score_q if which == "q" else self.score_k
            raw = layer(self._merge(heads)).transpose(1, 2)
        return self._scaled(raw)

    def _scaled(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw scores in the softmax dtype, times 1 / sqrt(d_h)."""
        return raw.to(_softmax_dtype(raw.dtype)) * self.scale

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        """Raise ModelError unless x and mask fit the layer, its dtype included (autocast aside)."""
        self.check_input(x, mask)
        weight_dtype = self.to_q.weight.dtype
        if x.dtype != weight_dtype and not torch.is_autocast_enabled(x.device.type):
            raise ModelError(f"{self.name}: input dtype {x.dtype} does not match the layer's parameters "
                             f"({weight_dtype}); convert one of them, e.g. model.to({x.dtype})")

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v (batch, seq, d_model), token-major; v is q itself with query-value sharing."""
        q, k = self.to_q(x), self.to_k(x)
        return q, k, q if self.to_v is None else self.to_v(x)

    def _project_t(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k, v transposed, (batch, d_model, seq): W x^T + b. In this layout every head is a contiguous
        (d_h, seq) slab, so the pooling matmuls read q and k in place (a head-major copy of a token-major
        tensor costs about two GEMMs' worth of time on one CPU thread)."""
        xt = x.transpose(1, 2)

        def project(layer: nn.Linear) -> torch.Tensor:
            return torch.baddbmm(layer.bias[:, None], layer.weight.expand(x.shape[0], -1, -1), xt)

        qt, kt = project(self.to_q), project(self.to_k)
        return qt, kt, qt if self.to_v is None else project(self.to_v)

    def _pool(self, qt: torch.Tensor, kt: torch.Tensor, mask: torch.Tensor | None) -> Pooling:
        """Non-causal query and key pooling (the paper's steps 2-4) from transposed q, k (batch, d, seq),
        without materialising p_i = g_q * k_i: since w_k . p_i = (w_k * g_q) . k_i and
        sum_i beta_i p_i = g_q * sum_i beta_i k_i, key pooling is one query (w_k * g_q) over the keys."""
        b, _, n = qt.shape
        qh, kh = qt.view(b, self.n_heads, self.d_head, n), kt.view(b, self.n_heads, self.d_head, n)
        if self.scorer == "paper":
            raw_q = torch.matmul(self.w_q.unsqueeze(-2), qh).squeeze(-2)
        else:
            raw_q = torch.baddbmm(self.score_q.bias[:, None], self.score_q.weight.expand(b, -1, -1), qt)
        alpha = _pool_weights(self._scaled(raw_q), mask).to(qt.dtype)
        g_q = torch.matmul(qh, alpha.unsqueeze(-1)).squeeze(-1)                       # (b, h, d_h)
        if self.scorer == "paper":
            raw_k = torch.matmul((self.w_k * g_q).unsqueeze(-2), kh).squeeze(-2)
        else:  # score_k(g_q * k_i) = (W_sk * g_q) k_i + b_sk: the global query folded into the scorer
            folded = self.score_k.weight * g_q.reshape(b, 1, self.d_model)
            raw_k = torch.baddbmm(self.score_k.bias[:, None], folded, kt)
        beta = _pool_weights(self._scaled(raw_k), mask).to(kt.dtype)
        g_k = g_q * torch.matmul(kh, beta.unsqueeze(-1)).squeeze(-1)
        return Pooling(alpha, g_q, beta, g_k)

    def pooling(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> Pooling:
        """Pooling weights alpha, beta and global vectors g_q, g_k of the non-causal layer, for inspection."""
        if self.causal:
            raise ModelError(f"{self.name}: the causal form has per-position prefix weights that are never "
                             f"materialised; build with causal=False to inspect pooling")
        self._check(x, mask)
        qt, kt, _ = self._project_t(x)
        return self._pool(qt, kt, mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (batch, seq, d_model), optional bool mask (batch, seq), True = keep -> (batch, seq, d_model)."""
        self._check(x, mask)
        if self.causal:
            q, k, v = self._project(x)
            qh, kh = self._split(q), self._split(k)
            work = _softmax_dtype(qh.dtype)
            g_q = _prefix_pool(self._scores(qh, "q"), qh.to(work), mask).to(qh.dtype)
            p = g_q * kh
            g_k = _prefix_pool(self._scores(p, "k"), p.to(work), mask).to(p.dtype)
            return self.to_out(self._merge(g_k * self._split(v))) + q
        qt, kt, vt = self._project_t(x)
        b, d, n = qt.shape
        g_k = self._pool(qt, kt, mask).g_k.reshape(b, 1, d)
        weight, bias = self.to_out.weight, self.to_out.bias
        if n < d:  # scaling v (n d per batch) is cheaper than scaling W_r (d^2)
            return torch.baddbmm(bias, (vt * g_k.transpose(1, 2)).transpose(1, 2), weight.T.expand(b, -1, -1)) \
                + qt.transpose(1, 2)
        # out_i = W_r (g_k * v_i) + b_r + q_i = (W_r diag(g_k)) v_i + b_r + q_i; with v = q, (W_r diag(g_k) + I) q_i
        folded = weight * g_k
        if self.to_v is None:
            folded.diagonal(dim1=1, dim2=2).add_(1.0)
            return torch.baddbmm(bias, qt.transpose(1, 2), folded.transpose(1, 2))
        return torch.baddbmm(bias, vt.transpose(1, 2), folded.transpose(1, 2)).add_(qt.transpose(1, 2))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Matmul FLOPs of one forward pass (2 per multiply-add, biases excluded), exactly what runs.

        With T = batch * seq_len tokens, d = d_model, h = n_heads:
          projections   6 T d^2 (to_q, to_k, to_out) + 2 T d^2 without query-value sharing;
          scoring       paper 4 T d (w_q . q_i, w_k . p_i per head); official 4 T d h (two Linear(d, h));
          pooling       non-causal 4 T d (sum alpha_i q_i, sum beta_i p_i as matmuls);
                        causal 2 x `_chunk_scan_flops(batch * h, seq_len, d_h)`: per pooling
                        2 T c d with c = min(CHUNK, seq_len) (padded to whole chunks), plus the same
                        on the ceil(seq_len / c) chunk summaries, recursively (about 2 T c d (1 + 1/c)).
        So the non-causal paper form is 6Td^2 + 8Td and the official one 6Td^2 + 4Tdh + 4Td.

        elementwise=True adds an estimate of the rest (mask handling not included): bias adds
        (3 or 4) T d, plus 2 T h for official scorer biases; p_i, u_i and the residual 3 T d; score scaling
        2 T h; non-causal softmax 5 ops per score, 10 T h; causal, per pooling, 4 T h c for the block
        weights (subtract, mask, exp, sum), 5 T d for the normalisation and the chunk merge (divide,
        2 scalings, add, mask) and 9 T h for running maxima, logs and merge weights: 8Thc + 10Td + 18Th.
        """
        tokens, d, h = batch * seq_len, self.d_model, self.n_heads
        n_proj = 3 if self.share_qv else 4
        total = 2 * n_proj * tokens * d * d
        total += 4 * tokens * d if self.scorer == "paper" else 4 * tokens * d * h
        if self.causal:
            total += 2 * _chunk_scan_flops(batch * h, seq_len, self.d_head)
        else:
            total += 4 * tokens * d
        if elementwise:
            total += n_proj * tokens * d + 3 * tokens * d + 2 * tokens * h
            if self.scorer == "official":
                total += 2 * tokens * h
            if self.causal:
                total += 8 * tokens * h * min(CHUNK, seq_len) + 10 * tokens * d + 18 * tokens * h
            else:
                total += 10 * tokens * h
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, share_qv={self.share_qv}, scorer={self.scorer!r}"
