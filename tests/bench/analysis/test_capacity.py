"""Capacity: the largest sequence length that ran and the smallest that did not fit, per series."""

from __future__ import annotations

import pandas as pd

from bench.analysis.capacity import first_line, largest_fit
from tests.fixtures.synthetic import Law, frame, sweep


def test_largest_fit_reports_the_longest_success_and_the_first_capacity_failure(standard):
    table = largest_fit(standard).set_index("variant")
    assert table.loc["softmax", "largest_ok_seq_len"] == 2048
    assert table.loc["softmax", "smallest_failed_seq_len"] == 8192
    assert table.loc["softmax", "failed_status"] == "oom"
    assert table.loc["softmax", "failed_reason"] == "OutOfMemoryError: tried to allocate 64.00 GiB"
    assert table.loc["linear", "failed_status"] == "skipped"
    assert "exceeds" in table.loc["linear", "failed_reason"]
    assert pd.isna(table.loc["sdpa", "smallest_failed_seq_len"])
    # errors are bugs, not capacity limits; performer's only ok length is not a sweep
    assert "performer" not in table.index


def test_largest_fit_follows_the_tokens_coupling():
    records = sweep("softmax", Law(1e-6, 1e-9, 2.0), [128, 256, 512, 1024], tokens=4096, fail_from=1024)
    row = largest_fit(frame(records)).iloc[0]
    assert (row["coupling"], row["largest_ok_seq_len"], row["largest_ok_batch"]) == ("tokens", 512, 8)
    assert (row["smallest_failed_seq_len"], row["failed_batch"]) == (1024, 4)


def test_first_line_skips_blank_lines_and_non_text():
    assert first_line("\n  RuntimeError: boom \nTraceback") == "RuntimeError: boom"
    assert first_line(None) is None and first_line(float("nan")) is None and first_line("\n \n") is None
