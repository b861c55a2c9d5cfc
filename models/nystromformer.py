"""Nyströmformer (Xiong et al. 2021, arXiv 2102.03902): softmax attention through m landmarks.

softmax(Q K^T / sqrt(d_h)) V is approximated by F pinv(A) (B V), with landmarks q~, k~ the segment means
of the queries and keys, F = softmax(Q k~^T), A = softmax(q~ k~^T), B = softmax(q~ K^T) (all scaled by
1/sqrt(d_h)) and pinv(A) from the paper's iterative Moore-Penrose scheme: cost O(N m d + m^3 h).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from models.base import Attention, ModelError, masked_fill_value
from models.registry import register
from models.softmax import merge_heads, split_heads


def iterative_pinv(a: torch.Tensor, iterations: int) -> torch.Tensor:
    """The paper's Moore-Penrose iteration for (..., m, m) matrices, each started on its own norms.

    Z_0 = A^T / (||A||_1 ||A||_inf), Z_{j+1} = Z_j (13 I - A Z_j (15 I - A Z_j (7 I - A Z_j))) / 4.
    The norms are taken per matrix (per batch row and head), so rows of a batch never influence each other
    (the official code's "original" option uses one maximum over the whole batch). 4 matmuls per step.
    Converges to the pseudo-inverse, also of a singular A; there, rounding in A's null space grows by 13/4
    per step, so tens of steps diverge in float64 (about 30 for a 6 x 6 A), while the paper's 6 are safe.
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    norm_1 = a.abs().sum(dim=-2).amax(dim=-1)
    norm_inf = a.abs().sum(dim=-1).amax(dim=-1)
    z = a.transpose(-2, -1) / (norm_1 * norm_inf)[..., None, None]
    for _ in range(iterations):
        az = a @ z
        z = (0.25 * z) @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


def segment_ids(mask: torch.Tensor | None, seq_len: int, n_landmarks: int, device: torch.device) -> torch.Tensor:
    """Landmark segment of every token, (B or 1, N): the kept token of rank r among L kept gets floor(r m / L).

    Segments are near-equal runs of consecutive kept tokens (sizes floor(L / m) or ceil(L / m), contiguous
    and equal when m divides L, as in the paper); padded tokens get the extra id m, which is discarded.
    """
    if mask is None:
        return (torch.arange(seq_len, device=device) * n_landmarks // seq_len)[None, :]
    rank = mask.cumsum(dim=1) - 1
    kept = mask.sum(dim=1, keepdim=True).clamp_min(1)
    return torch.where(mask, rank * n_landmarks // kept, n_landmarks)


def segment_means(t: torch.Tensor, segments: torch.Tensor, n_landmarks: int) -> torch.Tensor:
    """(B, h, N, d_h) -> (B, h, m, d_h): mean of the tokens in each segment; an empty segment gives 0.

    Sums use scatter_add (element-wise work, no matmul; atomic on CUDA, so sums may differ between runs
    by rounding there).
    """
    b, h, n, dh = t.shape
    index = segments[:, None, :, None].expand(b, h, n, dh)
    sums = t.new_zeros(b, h, n_landmarks + 1, dh).scatter_add(2, index, t)[:, :, :n_landmarks]
    ones = torch.ones(segments.shape, dtype=t.dtype, device=t.device)
    counts = ones.new_zeros(segments.shape[0], n_landmarks + 1).scatter_add(1, segments, ones)
    return sums / counts[:, None, :n_landmarks, None].clamp_min(1)


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      key_mask: torch.Tensor | None) -> torch.Tensor:
    """Exact softmax(q k^T) v over the keys whose key_mask (B, keys) is True; q already scaled."""
    scores = q @ k.transpose(-2, -1)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], masked_fill_value(scores.dtype))
    return torch.softmax(scores, dim=-1) @ v


@register
class NystromformerAttention(Attention):
    """Nyström-approximated softmax attention with m segment-mean landmarks per head (non-causal only).

    Per head, with q scaled by 1/sqrt(d_h): q~, k~ = segment means of q, k over m segments;
    F = softmax(q k~^T), A = softmax(q~ k~^T), B = softmax(q~ k^T), Z = `iterative_pinv`(A) with
    `pinv_iterations` steps, output F (Z (B v)). This association costs 2 B m^2 d + 2 B N m d for the last
    two products; the official code's (F Z)(B v) costs 2 B N m^2 + 2 B N m d and gives the same result.

    Length: segments are formed over the L kept tokens in order, token of rank r in segment floor(r m / L):
    m divides L gives the paper's equal contiguous segments, otherwise sizes differ by at most one (no
    padding to a multiple of m). When L <= m the layer computes exact softmax attention instead (with
    one-token segments Nyström would only approximate it through the iterated inverse): for the whole
    batch when N <= m, and for the rows with at most m kept tokens when a mask is given.
    The paper's optional depthwise convolution skip on v is left out.

    Masks: q, k and v of padded tokens are set to zero (set, not multiplied: NaN/inf padding cannot leak),
    padded tokens belong to no segment, and padded keys are excluded from the softmax of B (and of the exact
    form). Landmarks therefore depend only on the kept tokens in order, so the kept outputs equal a run on
    the kept tokens alone wherever the padding sits. The attention output of padded query rows is set to
    zero before `to_out`, so the layer returns `to_out.bias` there.

    state_dict layout: `to_q`, `to_k`, `to_v`, `to_out`, each nn.Linear(d_model, d_model) with bias
    (same names and shapes as `softmax`); head j uses features [j d_h, (j + 1) d_h). No other parameters
    or buffers.
    """

    name = "nystromformer"
    complexity: ClassVar[dict[str, str | None]] = {"time": "linear", "memory": "linear"}
    description = "Nystromformer: softmax attention through m segment-mean landmarks (Xiong et al. 2021)"
    option_help = {
        "n_landmarks": "landmarks m per head (segment means of q and k); sequences with at most m kept "
                       "tokens use exact softmax attention",
        "pinv_iterations": "steps of the iterative Moore-Penrose pseudo-inverse of the m x m kernel (paper: 6)",
    }
    supports_causal = False

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, n_landmarks: int = 64,
                 pinv_iterations: int = 6) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        for label, value in (("n_landmarks", n_landmarks), ("pinv_iterations", pinv_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"nystromformer: {label} must be a positive integer (paper: n_landmarks=64, "
                                 f"pinv_iterations=6), got {value!r}")
        self.n_landmarks = n_landmarks
        self.pinv_iterations = pinv_iterations
        self.add_projections()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, d_model), mask (B, N) with True = keep; returns (B, N, d_model)."""
        self.check_input(x, mask)
        b, n, _ = x.shape
        m = self.n_landmarks
        q = split_heads(self.to_q(x), self.n_heads) * (1.0 / math.sqrt(self.d_head))
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        padded = None
        if mask is not None:
            padded = ~mask[:, None, :, None]
            q, k, v = (t.masked_fill(padded, 0.0) for t in (q, k, v))
        if n <= m:
            out = softmax_attention(q, k, v, mask)
        else:
            out = self.nystrom(q, k, v, mask)
            if mask is not None:
                out = torch.where((mask.sum(dim=1) <= m)[:, None, None, None],
                                  self.exact_over_first_kept(q, k, v, mask), out)
        if padded is not None:
            out = out.masked_fill(padded, 0.0)
        return self.to_out(merge_heads(out))

    def nystrom(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        """F (Z (B v)) for (B, h, N, d_h) inputs, q scaled; meaningful for rows with more than m kept tokens.

        Rows with fewer kept tokens have empty segments (zero landmarks): finite, and replaced by the caller.
        """
        segments = segment_ids(mask, q.shape[2], self.n_landmarks, q.device)
        q_land = segment_means(q, segments, self.n_landmarks)
        k_land = segment_means(k, segments, self.n_landmarks)
        f = torch.softmax(q @ k_land.transpose(-2, -1), dim=-1)
        a = torch.softmax(q_land @ k_land.transpose(-2, -1), dim=-1)
        b_kernel = softmax_attention(q_land, k, v, mask)
        return f @ (iterative_pinv(a, self.pinv_iterations) @ b_kernel)

    def exact_over_first_kept(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                              mask: torch.Tensor) -> torch.Tensor:
        """Exact attention of every query over the first m kept tokens of its row: all of them if L <= m.

        Cost 4 B N m d (matmuls), the price of the mask when N > m.
        """
        m = self.n_landmarks
        b, h, _, dh = k.shape
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :m]
        index = order[:, None, :, None].expand(b, h, m, dh)
        return softmax_attention(q, k.gather(2, index), v.gather(2, index), mask.gather(1, order))

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """Unmasked forward: N <= m: 8 B N d^2 + 4 B N^2 d (exact attention); N > m:
        8 B N d^2 + 8 B N m d + 4 B m^2 d + 8 B h m^3 pinv_iterations.

        The N > m terms: q k~^T, q~ k^T, B v and F (Z B v) 2 B N m d each, q~ k~^T and Z (B v) 2 B m^2 d
        each, 4 m x m matmuls per pinv step. A mask adds 4 B N m d when N > m (`exact_over_first_kept`).
        elementwise=True adds 4 B N d bias additions, B N d for scaling q and 5 ops per softmax entry;
        when N > m also 2 B N d + 2 B m d for the segment means and, per head, 3 m^2 for the pinv start
        plus 4 m^2 per step (three identity shifts, the 1/4 scaling). Mask work is not included.
        """
        b, n, d, h, m = batch, seq_len, self.d_model, self.n_heads, self.n_landmarks
        total = 8 * b * n * d * d
        if n <= m:
            total += 4 * b * n * n * d
        else:
            total += 8 * b * n * m * d + 4 * b * m * m * d + 8 * b * h * m ** 3 * self.pinv_iterations
        if elementwise:
            total += 5 * b * n * d
            if n <= m:
                total += 5 * b * h * n * n
            else:
                total += 5 * b * h * (2 * n * m + m * m) + 2 * b * n * d + 2 * b * m * d
                total += b * h * m * m * (3 + 4 * self.pinv_iterations)
        return total

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, n_landmarks={self.n_landmarks}, pinv_iterations={self.pinv_iterations}"
