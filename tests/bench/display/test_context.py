"""The report context: the analysis computed once, an already computed time-scaling table reused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import bench.display.context as context
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
