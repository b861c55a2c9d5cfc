"""BigBird block-sparse attention (Zaheer et al. 2020, arXiv 2007.14062, the BigBird-ITC form).

The sequence is cut into blocks of `block` tokens. Each query block attends to a sliding window of key
blocks around itself, to a few global blocks and to a few random blocks drawn once per layer; the global
blocks attend to every key. With a fixed number of blocks per row, time and memory are O(N block).

Why this form: it is the block-level pattern of the paper's Figure 1 and of its released code (and of
Hugging Face's `block_sparse` mode), computed here in plain PyTorch with gathers of key/value blocks, so
it runs on any device, has a backward and counts its FLOPs exactly. BigBird's pattern is an encoder
pattern (a random or global block may lie in the future), so the layer has no causal form.

When a sequence is so short that every query block's pattern already covers every key block, attending
to all keys IS the pattern; the layer then computes dense attention (exact) and records it in `kernel()`
and `flops()`. (Hugging Face switches to full attention silently below (5 + 2 r) blocks; we record it.)
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from models.base import Attention, ModelError, int_option, masked_fill_value
from models.registry import register
from models.softmax import dense_attention, merge_heads, split_heads

DENSE = "dense (pattern covers every block)"
SPARSE = "block-sparse"
_DRAW_HIGH = 2 ** 62  # random draws are integers in [0, 2^62): taken modulo m < 2^40, the bias is below 2^-22



@register
class BigBirdAttention(Attention):
    """Block-sparse softmax attention with window, global and random blocks, as in BigBird-ITC.

    Rule, with blocks of b tokens, n_blocks = ceil(N / b), query block I and key block J (token i is in
    block i // b): I attends to J when
      - I < n_global or J < n_global (global blocks: the FIRST n_global blocks), or
      - |I - J| <= window_blocks (2 window_blocks + 1 blocks, clipped at the ends, no wrap-around), or
      - J is one of I's n_random random blocks, `random_blocks(n_blocks)[head, I - n_global]`.
    Random blocks are drawn among the blocks that are neither global nor in I's window, distinct, so no
    block is counted twice; they are drawn PER HEAD (as the paper's code and Hugging Face do). Each query
    takes one softmax over all the keys of its blocks; q is scaled by 1/sqrt(d_h) before any product.

    Defaults are BigBird's base configuration (paper appendix E, and Hugging Face's BigBirdConfig):
    block 64, 3 random blocks, a 3-block window (window_blocks 1), 2 global blocks. BigBird-ITC makes the
    first and the last block global; here the first n_global blocks are, so that the global set does not
    move with the padded length (the cost and the number of blocks per row are the same).

    The random table: at construction, one torch.Generator seeded with `seed` draws integers D of shape
    (n_heads, ceil(max_len / block), n_random), stored in the buffer `random_draw` (saved and loaded with
    the state_dict, never redrawn, not cast by .to(dtype)). For a sequence of n_blocks blocks, row I of
    head h samples without replacement from its m candidate blocks: pick t is the (D[h, I, t] mod (m - t))-th
    candidate not picked yet. The table is thus a fixed function of (D, n_blocks); `max_len` caps the
    length (longer inputs raise ModelError).

    Dense path: the pattern covers every block exactly when n_blocks <= n_global + window_blocks + 1 +
    n_random (the end rows' clipped windows leave the most candidates, n_blocks - n_global -
    (window_blocks + 1), and all of them fit in n_random); the layer then runs full attention over the N
    tokens and kernel() says DENSE. Otherwise it runs the block-sparse form and kernel() says SPARSE.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias (the
    names and shapes of `softmax`/`sdpa`, so those weights load across), plus the int64 buffer
    `random_draw`. Head j uses features [j*d_h, (j+1)*d_h); heads are concatenated before `to_out`.

    Masks: the sequence is padded to whole blocks with keys that are masked out; padded keys of the mask
    are excluded everywhere; the attention output of padded query rows is set to zero before `to_out`, as
    in `softmax`. Excluded scores get the dtype's most negative finite value, so no row gives NaN. The
    pattern is over block positions, so removing padding from a sequence can change which blocks meet.
    """

    name = "bigbird"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "BigBird: block-sparse attention over window, global and random key blocks (BigBird-ITC)"
    supports_causal = False
    option_help = {
        "block": "block size in tokens (BigBird base: 64; the Fastformer paper's speed task used 16)",
        "window_blocks": "sliding blocks on each side of a query's own block (1: a 3-block window)",
        "n_random": "random key blocks per query block row, drawn once per head from `seed` (BigBird: 3)",
        "n_global": "the first n_global blocks attend to all blocks and all blocks attend to them (BigBird: 2)",
        "seed": "seed of the torch.Generator that draws the random blocks at construction",
        "max_len": "longest sequence accepted; the random draw covers ceil(max_len / block) block rows",
    }

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, block: int = 64,
                 window_blocks: int = 1, n_random: int = 3, n_global: int = 2, seed: int = 0,
                 max_len: int = 65536) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.block = int_option(self.name, "block", block, "tokens per block, e.g. 64")
        self.window_blocks = int_option(self.name, "window_blocks", window_blocks, "blocks on each side, e.g. 1",
                                        minimum=0)
        self.n_random = int_option(self.name, "n_random", n_random, "random blocks per query block, e.g. 3", minimum=0)
        self.n_global = int_option(self.name, "n_global", n_global, "number of leading global blocks, e.g. 2",
                                   minimum=0)
        self.seed = int_option(self.name, "seed", seed, "seed of the random-block generator, e.g. 0", minimum=0)
        self.max_len = int_option(self.name, "max_len", max_len, "longest accepted sequence, e.g. 65536")
        self.add_projections()
        rows = -(-max_len // block)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("random_draw", torch.randint(0, _DRAW_HIGH, (n_heads, rows, n_random),
                                                          generator=generator, dtype=torch.int64))
        self._last_kernel = "not run yet"

    # --- the pattern ----------------------------------------------------------------------------------------

    def is_dense(self, seq_len: int) -> bool:
        """Whether the pattern covers every block at this length, so that the layer runs dense attention."""
        n_blocks = -(-seq_len // self.block)
        return n_blocks <= self.n_global + self.window_blocks + 1 + self.n_random

    def random_blocks(self, n_blocks: int) -> torch.Tensor:
        """The random key blocks of each non-global query block for a sequence of n_blocks blocks.

        Returns int64 (n_heads, n_blocks - n_global, n_random): entry [h, t] lists, in draw order, the
        random blocks of query block n_global + t for head h; distinct, each in [n_global, n_blocks) and
        outside that block's window. Only defined where the pattern does not cover every block.
        """
        g, w = self.n_global, self.window_blocks
        if n_blocks * self.block > self.max_len + self.block - 1 or self.is_dense(n_blocks * self.block):
            raise ModelError(f"bigbird: no random table for {n_blocks} blocks; it exists for "
                             f"{g + w + self.n_random + 2} to {-(-self.max_len // self.block)} blocks")
        device = self.random_draw.device
        rows = torch.arange(g, n_blocks, device=device)
        low = (rows - w).clamp(min=g)                      # the window inside [g, n_blocks)
        width = (rows + w).clamp(max=n_blocks - 1) - low + 1
        candidates = (n_blocks - g) - width                # m per row: more than n_random on this path
        picks: list[torch.Tensor] = []                     # indices into each row's candidate list
        for t in range(self.n_random):
            pick = self.random_draw[:, g:n_blocks, t] % (candidates - t)
            for earlier in torch.stack(picks, dim=-1).sort(dim=-1).values.unbind(-1) if picks else ():
                pick = pick + (pick >= earlier).long()     # skip what was picked, in ascending order
            picks.append(pick)
        if not picks:
            return torch.empty(self.n_heads, n_blocks - g, 0, dtype=torch.int64, device=device)
        chosen = torch.stack(picks, dim=-1)
        return g + chosen + (chosen >= (low - g)[:, None]).long() * width[:, None]

    # --- cost -----------------------------------------------------------------------------------------------

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Matmul FLOPs of one forward, exactly what FlopCounterMode counts, for the path this length takes.

        Dense path (is_dense(N)):  8 B N d^2 + 4 B N^2 d.
        Block-sparse path, with n_blocks = ceil(N / b), g = n_global, R = n_blocks - g query block rows,
        K = 2 window_blocks + 1 + g + n_random key blocks per row:

            8 B N d^2               the four projections
          + 4 B d R b^2 K           each row's b queries against its K b gathered keys, then the weighted sum
          + 4 B d g b N             the global query blocks' dense rows over all N keys

        elementwise=True adds an estimate: 4 B N d bias additions, B N d for scaling q, and 6 per score
        entry (mask fill, max, subtract, exp, sum, divide) over B h N^2 (dense) or B h (R b K b + g b N).
        """
        b, n, d = batch, seq_len, self.d_model
        total = 8 * b * n * d * d
        if self.is_dense(n):
            scores = b * self.n_heads * n * n
            total += 4 * b * n * n * d
        else:
            size, g = self.block, self.n_global
            rows, keys = -(-n // size) - g, 2 * self.window_blocks + 1 + g + self.n_random
            scores = b * self.n_heads * (rows * size * keys * size + g * size * n)
            total += 4 * b * d * rows * size * size * keys + 4 * b * d * g * size * n
        if elementwise:
            total += 5 * b * n * d + 6 * scores
        return total

    def kernel(self) -> str:
        """What the latest forward ran: DENSE ("dense (pattern covers every block)") or SPARSE
        ("block-sparse"); "not run yet" before any forward."""
        return self._last_kernel

    # --- forward --------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """BigBird attention; x (B, N <= max_len, d), mask (B, N) True = keep."""
        self.check_input(x, mask)
        q = split_heads(self.to_q(x), self.n_heads) * (1.0 / math.sqrt(self.d_head))
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        if self.is_dense(x.shape[1]):
            attended = dense_attention(q, k, v, mask)
            self._last_kernel = DENSE
        else:
            attended = self._block_sparse(q, k, v, mask)
            self._last_kernel = SPARSE
        out = merge_heads(attended)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def _block_sparse(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      mask: torch.Tensor | None) -> torch.Tensor:
        """Gathered window + global + random key blocks per non-global query block, one softmax per query;
        the global query blocks attend densely. q already scaled.

        Largest tensors: the scores, B h R b (K b), and the gathered keys and values, B h R K b d_h:
        linear in N for fixed b and K.
        """
        batch, h, n, dh = q.shape
        size, g, w = self.block, self.n_global, self.window_blocks
        n_blocks = -(-n // size)
        rows = torch.arange(g, n_blocks, device=q.device)
        # key blocks of each row: window slots, global slots, random slots (h, R, K), and which are real
        window = rows[:, None] + torch.arange(-w, w + 1, device=q.device)
        in_range = (window >= g) & (window < n_blocks)      # a global block is scored in its global slot
        slots = torch.cat([window.clamp(0, n_blocks - 1), torch.arange(g, device=q.device).expand(len(rows), g)],
                          dim=1)
        index = torch.cat([slots.expand(h, -1, -1), self.random_blocks(n_blocks)], dim=2)
        real = F.pad(in_range, (0, g + self.n_random), value=True)
        keep = torch.ones(batch, n, dtype=torch.bool, device=q.device) if mask is None else mask
        keep = F.pad(keep, (0, n_blocks * size - n), value=False).view(batch, n_blocks, size)

        heads = torch.arange(h, device=q.device)[:, None, None]

        def gathered(t: torch.Tensor) -> torch.Tensor:
            blocks = F.pad(t, (0, 0, 0, n_blocks * size - n)).view(batch, h, n_blocks, size, dh)
            return blocks[:, heads, index].flatten(3, 4)     # (B, h, R, K b, d_h)

        allowed = (keep[:, index] & real[None, None, :, :, None]).flatten(3, 4)[:, :, :, None, :]
        q_rows = F.pad(q, (0, 0, 0, n_blocks * size - n))[:, :, g * size:].reshape(batch, h, -1, size, dh)
        scores = q_rows @ gathered(k).transpose(-2, -1)
        scores = scores.masked_fill(~allowed, masked_fill_value(scores.dtype))
        out = (torch.softmax(scores, dim=-1) @ gathered(v)).flatten(2, 3)
        if g:
            out = torch.cat([dense_attention(q[:, :, :g * size], k, v, mask), out], dim=2)
        return out[:, :, :n]

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, block={self.block}, window_blocks={self.window_blocks}, "
                f"n_random={self.n_random}, n_global={self.n_global}, seed={self.seed}, max_len={self.max_len}")
