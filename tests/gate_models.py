"""Test-only layers for proving the CI gate: Fastformer made slower or quadratic on request.

`TunableFastformer` is the paper's Fastformer; the environment variable ATTNBENCH_TEST_REGRESSION
(read when the layer is built, inherited by benchmark workers) turns it into a regressed version
under the same name, so its results match the baseline's configurations:
- "work30": also runs the layer on the first 30 % of the tokens (30 % more work);
- "quadratic": also computes softmax(x x^T) x over all tokens (an N x N score matrix).
The extra results are added with weight zero: they cost time without changing the output.
"""

from __future__ import annotations

import math
import os

import torch

from models.fastformer import Fastformer

REGRESSIONS = ("", "work30", "quadratic")


class TunableFastformer(Fastformer):
    """Fastformer, or a deliberately regressed copy of it when ATTNBENCH_TEST_REGRESSION is set."""

    name = "tunable_fastformer"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.regression = os.environ.get("ATTNBENCH_TEST_REGRESSION", "")
        if self.regression not in REGRESSIONS:
            raise ValueError(f"ATTNBENCH_TEST_REGRESSION must be one of {REGRESSIONS}, got {self.regression!r}")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        out = super().forward(x, mask)
        if self.regression == "work30":
            head = max(1, math.ceil(0.3 * x.shape[1]))
            extra = super().forward(x[:, :head], None if mask is None else mask[:, :head])
            out = out + 0.0 * extra.sum()
        elif self.regression == "quadratic":
            scores = torch.softmax(x @ x.transpose(1, 2) / math.sqrt(self.d_model), dim=-1)
            out = out + 0.0 * (scores @ x)
        return out
