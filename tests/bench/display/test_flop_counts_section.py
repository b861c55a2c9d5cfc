"""The report's FLOP-count section: disagreements listed once, the documented ones marked expected."""

from __future__ import annotations

from bench.display.context import ReportContext
from bench.display.sections.flop_counts import render
from tests.fixtures.synthetic import standard_frame


def _ctx(df, tmp_path) -> ReportContext:
    return ReportContext.build(df, {}, run_id="r", command="c", plots=[], outdir=tmp_path)


def test_when_every_count_agrees_the_section_says_so_in_one_line(tmp_path):
    df = standard_frame()
    df["flops_agree"] = True
    text = render(_ctx(df, tmp_path))
    assert "agreed with every layer's analytic count" in text and "|" not in text


def test_disagreements_are_listed_with_their_ratio_and_the_documented_ones_marked_expected(tmp_path):
    df = standard_frame()
    df["flops_counted"], df["flops_analytic"], df["flops_agree"] = 350.0, 300.0, True
    df.loc[df["model"] == "sdpa", ["mode", "flops_agree"]] = ["train", False]
    df.loc[df["model"] == "linear", "flops_agree"] = False
    text = render(_ctx(df, tmp_path))
    assert "| sdpa | train | 1.17x | expected: PyTorch counts the fused SDPA backward" in text
    assert "| linear | forward | 1.17x | not expected" in text
