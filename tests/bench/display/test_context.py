"""The report context: the analysis computed once, an already computed time-scaling table reused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import bench.display.context as context
from bench.analysis.replicates import config_table
from bench.analysis.scaling import scaling_table
from bench.display.context import REFERENCES, SCALING, ReportContext
from tests.fixtures.synthetic import standard_frame


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return standard_frame()


def test_build_analyses_every_table_the_sections_read(df, tmp_path):
    plots = [tmp_path / "plots" / "time_vs_seq_len_x.png", tmp_path / "plots" / "speedup_vs_sdpa_x.png"]
    ctx = ReportContext.build(df, {}, run_id="r", command="c", plots=plots, outdir=tmp_path)
    assert list(ctx.scaling) == list(SCALING) and list(ctx.crossovers) == list(REFERENCES)
    assert set(ctx.scaling["time_seq_len"]["axis"]) == {"seq_len"}
    assert set(ctx.scaling["memory_seq_len"]["metric"]) == {"peak_bytes"}
    assert ctx.claims and not ctx.largest.empty and not ctx.flops.empty
    assert ctx.plots == ("plots/time_vs_seq_len_x.png", "plots/speedup_vs_sdpa_x.png")
    assert ctx.embeds("speedup_") == ["![speedup_vs_sdpa_x](plots/speedup_vs_sdpa_x.png)"]


def test_a_given_time_scaling_table_is_used_and_not_recomputed(df, tmp_path, monkeypatch):
    given = scaling_table(df, "seq_len", "median_s")
    computed = []

    def counting(frame, axis, metric, **kwargs):
        computed.append((axis, metric))
        return scaling_table(frame, axis, metric, **kwargs)

    monkeypatch.setattr(context, "scaling_table", counting)
    ctx = ReportContext.build(df, {}, run_id="r", command="c", plots=[], outdir=Path("."),
                              time_scaling=given)
    assert ctx.scaling["time_seq_len"] is given
    assert ("seq_len", "median_s") not in computed and len(computed) == 3


def test_a_given_config_table_is_used_and_the_passes_are_not_combined_again(df, monkeypatch):
    given = config_table(df)
    monkeypatch.setattr(context, "config_table", lambda frame: pytest.fail("config_table computed again"))
    ctx = ReportContext.build(df, {}, run_id="r", command="c", plots=[], outdir=Path("."), configs=given)
    assert ctx.configs is given and ctx.df is df


def test_writing_a_report_combines_the_passes_once(df, tmp_path, monkeypatch):
    from bench.display import report

    calls = []

    def counting(frame):
        calls.append(len(frame))
        return config_table(frame)

    monkeypatch.setattr(report, "config_table", counting)
    monkeypatch.setattr(context, "config_table", counting)
    report.write_report(df, {}, tmp_path, run_id="r", command="c")
    assert calls == [len(df)]


def test_a_plot_with_a_pdf_beside_it_is_embedded_with_a_link_to_the_pdf(df, tmp_path):
    plots = [tmp_path / "plots" / "time_vs_seq_len_x.png", tmp_path / "plots" / "time_vs_batch_x.png"]
    plots[0].parent.mkdir()
    for path in (*plots, plots[0].with_suffix(".pdf")):
        path.write_bytes(b"")
    ctx = ReportContext.build(df, {}, run_id="r", command="c", plots=plots, outdir=tmp_path)
    assert ctx.embeds("time_vs_") == [
        "![time_vs_seq_len_x](plots/time_vs_seq_len_x.png) ([PDF](plots/time_vs_seq_len_x.pdf))",
        "![time_vs_batch_x](plots/time_vs_batch_x.png)"]
