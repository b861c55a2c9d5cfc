"""The end-of-run table: one row per layer and setting, never merging causal and bidirectional runs."""

import pandas as pd

from bench.analysis import scaling_table
from bench.config import BenchConfig
from bench.record import Record
from bench.summary import render_summary


def _frame() -> pd.DataFrame:
    rows = []
    for causal, exponent in ((False, 1.0), (True, 2.0)):
        for n in (64, 128, 256, 512):
            config = BenchConfig(model="fastformer", batch=1, seq_len=n, d_model=16, n_heads=2, causal=causal)
            time_s = 1e-3 * (n / 64) ** exponent
            rows.append(Record(config=config, status="ok", timing={"samples_s": [time_s * f for f in
                                                                                 (0.99, 1.0, 1.01)]}).row())
    rows.append(Record(config=BenchConfig(model="fastformer", batch=1, seq_len=1024, d_model=16, n_heads=2,
                                          causal=True), status="skipped", prediction={"reason": "budget"}).row())
    return pd.DataFrame(rows)


def test_causal_and_bidirectional_series_get_their_own_rows_and_slopes():
    df = _frame()
    lines = render_summary(df, scaling_table(df, n_boot=50)).splitlines()
    assert len(lines) == 4 and "causal" in lines[0] and "verdict" in lines[0]
    bidirectional = next(line for line in lines[2:] if "| -" in line)
    causal = next(line for line in lines[2:] if "| causal" in line)
    assert "1.00" in bidirectional and "linear" in bidirectional
    assert "2.00" in causal and "quadratic" in causal and "| 1 " in causal  # one skipped
    assert "512" in causal and "64 ms" in causal and "8 ms" in bidirectional


def test_an_empty_run_says_so():
    assert render_summary(pd.DataFrame(), pd.DataFrame()) == "no results"
