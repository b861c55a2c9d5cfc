"""Whether FlopCounterMode's count and the layer's analytic count disagree, and whether that is expected.

bench.measure.flops documents two expected disagreements in train mode: fused SDPA (PyTorch counts its
backward as 2.5x its forward) and Performer (a matmul with constant random features has one backward
matmul, not two). They are stated here, once, instead of as warnings printed during the run.
"""

from __future__ import annotations

import pandas as pd

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs
from bench.display.table import markdown_table

# (model, mode) pairs whose counts are documented to differ, and why.
EXPECTED = {
    ("sdpa", "train"): "expected: PyTorch counts the fused SDPA backward as 2.5x its forward",
    ("performer", "train"): "expected: the random-feature matmul has a constant operand, so one backward matmul",
}


@section(order=62)
def render(ctx: ReportContext) -> str:
    """A table of the variants and modes whose counts disagree, or one line saying they all agree."""
    df = ctx.df
    off = df[df["flops_agree"].eq(False) & df["flops_counted"].notna() & df["flops_analytic"].notna()]
    if off.empty:
        return paragraphs("## FLOP counts", "FlopCounterMode's count agreed with every layer's analytic count "
                                            "within 1 % (where both exist).")
    rows = []
    for (variant, model, mode), group in off.groupby(["variant", "model", "mode"], sort=True):
        ratio = pd.to_numeric(group["flops_counted"]) / pd.to_numeric(group["flops_analytic"])
        why = EXPECTED.get((model, mode), "not expected: check the layer's flops()")
        rows.append((variant, mode, f"{ratio.min():.3g}x" if ratio.min() == ratio.max()
                     else f"{ratio.min():.3g}x to {ratio.max():.3g}x", why))
    return paragraphs("## FLOP counts",
                      "FlopCounterMode's count over the layer's analytic count where they differ by more than "
                      "1 % (`flops_agree` false in the results); rates above use the counted FLOPs.",
                      markdown_table(("variant", "mode", "counted / analytic", "why"), rows))
