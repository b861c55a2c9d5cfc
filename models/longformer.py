"""Longformer attention (Beltagy et al. 2020, arXiv 2004.05150): a sliding window plus a few global tokens.

Each query attends to the keys within `window` positions on either side and to the first `n_global`
tokens; those global tokens attend to every token. Time and memory are O(N (window + n_global)).

Two implementations of the same pattern:

- "blocked" (default), plain PyTorch on any device, with backward: queries are cut into chunks of
  c = min(window, N) tokens; each chunk is scored against its own and its neighbouring chunks' keys
  (3c keys, 2c when causal: a query never needs more than one chunk on either side) and a band mask
  keeps |i - j| <= window. The global keys' scores are one dense column block, concatenated with the
  band scores before a single softmax; the global queries are dense rows over all N keys.
- "flex": torch.nn.attention.flex_attention with a BlockMask built by create_block_mask from a mask_mod
  that states the same rule. Eager flex is PyTorch's unfused fallback, which materialises the full
  N x N scores; inside torch.compile it becomes a fused block-sparse kernel. On CPU flex has no
  backward (torch 2.13: "FlexAttention does not support backward on CPU"), and it cannot run under a
  TorchDispatchMode such as FlopCounterMode (pytorch/pytorch#134385); both raise ModelError (the latter
  UncountableError, so the harness measures memory without counting).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from models.base import Attention, ModelError, UncountableError, int_option, masked_fill_value
from models.registry import register
from models.softmax import dense_attention, merge_heads, split_heads

IMPLS = ("blocked", "flex")



@register
class LongformerAttention(Attention):
    """Sliding-window softmax attention with global tokens, as in Longformer.

    Rule (non-causal): query i attends to key j when |i - j| <= window, or j < n_global (global key), or
    i < n_global (a global query attends to every key). Causal: query i attends to key j when j <= i and
    (i - j <= window or j < n_global); a global query therefore sees only keys j <= i, all of which are
    global themselves. Each query takes one softmax over the union of its window keys and the global keys;
    a global key inside the window is counted once. With window >= N - 1 the layer is full softmax
    attention (`sdpa`/`softmax` with the same weights); with n_global >= N every token is global, which
    is full attention too. q is scaled by 1/sqrt(d_h) before any product.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias, the
    same names and shapes as `softmax`/`sdpa`, so weights load across. Head j uses features
    [j*d_h, (j+1)*d_h); heads are concatenated in order before `to_out`; no residual. A stated
    simplification: real Longformer gives the global attention its own projections (query_global,
    key_global, value_global); here global queries, keys and values reuse to_q, to_k and to_v.

    Masks: padded keys are excluded everywhere (window, global column, global rows); the attention output
    of padded query rows is set to zero before `to_out`, as in `softmax`. Excluded scores are filled with
    the dtype's most negative finite value, so a row with no key (only ever a padded query: a kept query
    always sees itself) gives a finite value, never NaN. Position matters: like the real Longformer, the
    window is over positions, so removing padding from the middle of a sequence changes who is near whom.

    Block masks for impl="flex" are cached per (N, device) for calls without a padding mask; with a mask
    a new one is built on every call (create_block_mask costs seconds at long N).
    """

    name = "longformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Longformer: sliding-window attention (window keys each side) plus n_global global tokens"
    option_help = {
        "window": "keys on each side of a query (|i - j| <= window); 256 = Longformer's 512-token window; "
                  "the Fastformer paper's speed task used 16",
        "n_global": "the first n_global tokens attend to all tokens and all tokens attend to them "
                    "(1: a CLS-like token; 0: window only)",
        "impl": "blocked (plain PyTorch chunks, any device, backward) or flex (flex_attention; on CPU "
                "forward only)",
    }

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, window: int = 256,
                 n_global: int = 1, impl: str = "blocked") -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.window = int_option(self.name, "window", window, "keys on each side of a query, e.g. 256")
        self.n_global = int_option(self.name, "n_global", n_global, "number of leading global tokens, e.g. 1",
                                   minimum=0)
        if not isinstance(impl, str) or impl not in IMPLS:
            raise ModelError(f"longformer: unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
        if impl == "flex":
            try:
                from torch.nn.attention import flex_attention  # noqa: F401 - torch >= 2.5
            except ImportError as exc:
                raise ModelError(f"longformer: impl='flex' needs torch.nn.attention.flex_attention "
                                 f"(torch >= 2.5, this is {torch.__version__}); use impl='blocked'") from exc
        self.impl = impl
        self.add_projections()
        self._block_masks: dict[tuple[int, torch.device], Any] = {}
        self._last_kernel = impl

    # --- shapes of the blocked computation ------------------------------------------------------------------

    def _layout(self, n: int) -> tuple[int, int, tuple[int, ...], int]:
        """(chunk size c, number of chunks g, neighbouring-chunk offsets, global tokens G) for length n.

        One chunk when window >= n (it already holds every key); otherwise the chunks before and after
        (only before when causal) are enough, since a chunk is `window` tokens long.
        """
        c = min(self.window, n)
        g = -(-n // c)
        offsets = (0,) if g == 1 else (-1, 0) if self.causal else (-1, 0, 1)
        return c, g, offsets, min(self.n_global, n)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Matmul FLOPs of one forward (impl="blocked": exactly what FlopCounterMode counts).

        With c = min(window, N), g = ceil(N / c), padded length P = g c, keys per chunk K = c if g = 1,
        else 3c (2c when causal), G = min(n_global, N):

            8 B N d^2                        the four projections
          + 4 B d P (K + G)                  band scores and global-column scores, then both weighted sums
          + 4 B d G N   (non-causal only)    the dense rows of the global queries

        (a causal global query's keys are all global, so the chunked path already gives its row).
        impl="flex": 8 B N d^2 + 4 B N^2 d, what FlopCounterMode's formula for flex_attention counts
        (full q/k/v shapes, block mask ignored) and what eager flex's unfused fallback multiplies; the
        compiled kernel skips empty 128 x 128 blocks. On torch 2.13 the counter cannot run flex at all.

        elementwise=True adds an estimate: 4 B N d bias additions, B N d for scaling q, and 6 per score
        entry (mask fill, max, subtract, exp, sum, divide) over B h (P (K + G) + G N) entries (G N only
        when non-causal).
        """
        b, n, d = batch, seq_len, self.d_model
        total = 8 * b * n * d * d
        if self.impl == "flex":
            total += 4 * b * n * n * d
            scores = b * self.n_heads * n * n
        else:
            c, g, offsets, n_glob = self._layout(n)
            padded, keys = g * c, len(offsets) * c
            rows = 0 if self.causal else n_glob * n
            total += 4 * b * d * padded * (keys + n_glob) + 4 * b * d * rows
            scores = b * self.n_heads * (padded * (keys + n_glob) + rows)
        if elementwise:
            total += 5 * b * n * d + 6 * scores
        return total

    def kernel(self) -> str:
        """What ran on the latest forward: "blocked", "flex" (eager, unfused) or "flex-compiled" (the
        forward was traced by torch.compile). Before any forward: the chosen impl."""
        return self._last_kernel

    # --- forward --------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Window + global attention; x (B, N, d), mask (B, N) True = keep."""
        self.check_input(x, mask)
        q = split_heads(self.to_q(x), self.n_heads) * (1.0 / math.sqrt(self.d_head))
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        if self.impl == "flex":
            attended = self._flex(q, k, v, mask)
        else:
            attended = self._blocked(q, k, v, mask)
            self._last_kernel = "blocked"
        out = merge_heads(attended)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def _blocked(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 mask: torch.Tensor | None) -> torch.Tensor:
        """Chunked band attention with a global column, plus dense global rows; q already scaled.

        Largest tensors: the scores, B h P (K + G), and the global rows, B h G N: linear in N.
        """
        b, h, n, dh = q.shape
        c, g, offsets, n_glob = self._layout(n)
        device = q.device
        # positions: query (g, c), and the keys each chunk is scored against (g, K)
        q_pos = torch.arange(g * c, device=device).view(g, c)
        within = torch.cat([o * c + torch.arange(c, device=device) for o in offsets])
        k_pos = torch.arange(g, device=device)[:, None] * c + within
        gather = k_pos.clamp(0, n - 1)  # positions before 0 or past N are read here but masked below
        distance = q_pos[:, :, None] - k_pos[:, None, :]
        near = (distance >= 0) if self.causal else (distance >= -self.window)
        near = near & (distance <= self.window)
        # a global key is scored in the global column only, so the band drops it
        allowed = near & ((k_pos >= n_glob) & (k_pos < n))[:, None, :]
        if self.causal:
            allowed_global = torch.arange(n_glob, device=device) <= q_pos[:, :, None]
        else:
            allowed_global = torch.ones(g, c, n_glob, dtype=torch.bool, device=device)
        if mask is not None:
            allowed = allowed & mask[:, gather][:, None, :, None, :]
            allowed_global = allowed_global & mask[:, None, None, None, :n_glob]
        allowed_global = allowed_global.expand(*allowed.shape[:-1], n_glob)
        q_chunks = F.pad(q, (0, 0, 0, g * c - n))
        band = q_chunks.view(b, h, g, c, dh) @ k[:, :, gather].transpose(-2, -1)
        global_cols = (q_chunks @ k[:, :, :n_glob].transpose(-2, -1)).view(b, h, g, c, n_glob)
        scores = torch.cat([band, global_cols], dim=-1)
        scores = scores.masked_fill(~torch.cat([allowed, allowed_global], dim=-1), masked_fill_value(q.dtype))
        probs = torch.softmax(scores, dim=-1)
        keys = len(offsets) * c
        out = probs[..., :keys] @ v[:, :, gather]
        out = out.view(b, h, g * c, dh)
        if n_glob:
            out = out + probs[..., keys:].reshape(b, h, g * c, n_glob) @ v[:, :, :n_glob]
        out = out[:, :, :n]
        if n_glob and not self.causal:
            out = torch.cat([dense_attention(q[:, :, :n_glob], k, v, mask), out[:, :, n_glob:]], dim=2)
        return out

    # --- flex_attention -------------------------------------------------------------------------------------

    def _mask_mod(self, mask: torch.Tensor | None) -> Any:
        """The attention rule as a flex mask_mod(b, h, q_idx, kv_idx) -> bool, padding included."""
        window, n_global, causal = self.window, self.n_global, self.causal

        def rule(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            if causal:
                seen = (q_idx >= kv_idx) & ((q_idx - kv_idx <= window) | (kv_idx < n_global))
            else:
                seen = ((q_idx - kv_idx).abs() <= window) | (kv_idx < n_global) | (q_idx < n_global)
            return seen if mask is None else seen & mask[b, kv_idx]

        return rule

    @torch.compiler.disable
    def _block_mask(self, n: int, device: torch.device, mask: torch.Tensor | None) -> Any:
        """The BlockMask for this call; cached per (N, device) when there is no padding mask."""
        from torch.nn.attention.flex_attention import create_block_mask

        if mask is not None:
            return create_block_mask(self._mask_mod(mask), mask.shape[0], None, n, n, device=device)
        key = (n, device)
        if key not in self._block_masks:
            self._block_masks[key] = create_block_mask(self._mask_mod(None), None, None, n, n, device=device)
        return self._block_masks[key]

    def _flex(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """flex_attention over the same rule; q already scaled, so scale=1."""
        from torch.nn.attention.flex_attention import flex_attention

        if q.device.type == "cpu" and torch.is_grad_enabled() and (q.requires_grad or k.requires_grad):
            raise ModelError("longformer: impl='flex' has no backward on CPU (torch's FlexAttention does not "
                             "support backward on CPU); run under torch.no_grad()/inference, or use "
                             "impl='blocked' for training")
        if torch._C._len_torch_dispatch_stack():
            # Checked before the call: a failed flex call under the mode also breaks later calls in the process.
            raise UncountableError("longformer: impl='flex' cannot run under a TorchDispatchMode such as "
                                   "FlopCounterMode in this torch (pytorch/pytorch#134385); use impl='blocked' "
                                   "to count FLOPs (the same attention rule)")
        out = flex_attention(q, k, v, block_mask=self._block_mask(q.shape[2], q.device, mask), scale=1.0)
        self._last_kernel = "flex-compiled" if torch.compiler.is_compiling() else "flex"
        return out

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, window={self.window}, n_global={self.n_global}, "
                f"impl={self.impl!r}")
