"""The end-of-run table: one row per layer and setting, never merging causal and bidirectional runs."""

from __future__ import annotations

import pandas as pd

from bench.analysis.scaling import scaling_table
from bench.display.summary import render_summary
from tests.fixtures.synthetic import Law, frame, sweep

SIZES = [64, 128, 256, 512]


def _frame() -> pd.DataFrame:
    shape = {"batch": 1, "d_model": 16, "n_heads": 2, "noise": 0.0, "n_samples": 5}
    return frame(sweep("fastformer", Law(0, 1e-3 / 64, 1.0), SIZES, **shape)
                 + sweep("fastformer", Law(0, 1e-3 / 64 ** 2, 2.0), [*SIZES, 1024], causal=True, fail_from=1024,
                         fail_status="skipped", **shape))


def test_causal_and_bidirectional_series_get_their_own_rows_and_slopes():
    df = _frame()
    lines = render_summary(df, scaling_table(df)).splitlines()
    assert len(lines) == 4 and "causal" in lines[0] and "verdict" in lines[0]
    assert set(lines[1]) == {"-", "+"}
    bidirectional = next(line for line in lines[2:] if "| -" in line)
    causal = next(line for line in lines[2:] if "| causal" in line)
    assert "1.00" in bidirectional and "linear" in bidirectional
    assert "2.00" in causal and "quadratic" in causal and "| 1 " in causal  # one skipped
    assert "512" in causal and "64 ms" in causal and "8 ms" in bidirectional
    assert all(line == line.rstrip() for line in lines)


def test_a_variant_without_a_series_gets_no_slope():
    df = frame(sweep("sdpa", Law(0, 1e-3, 0.0), [128], noise=0.0))
    row = render_summary(df, scaling_table(df)).splitlines()[2]
    assert [cell.strip() for cell in row.split("|")][-3:] == ["1 ms", "-", "-"]


def test_an_empty_run_says_so():
    assert render_summary(pd.DataFrame(), pd.DataFrame()) == "no results"
