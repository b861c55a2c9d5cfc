"""Crossovers: the interval where a variant overtakes a reference and stays ahead."""

from __future__ import annotations

import pytest

from bench.analysis.crossovers import crossovers
from bench.results.identity import SeriesKey
from tests.fixtures.synthetic import Law, frame, sweep


def test_crossover_interval_brackets_the_length_where_a_variant_overtakes_sdpa(standard):
    table = crossovers(standard, "sdpa").set_index("variant")
    assert table.loc["fastformer", "outcome"] == "crosses"
    assert (table.loc["fastformer", "slower_at"], table.loc["fastformer", "faster_from"]) == (512, 1024)
    assert table.loc["softmax", "outcome"] == "never in range"
    assert table.loc["fastformer", "speedup_at_max"] == pytest.approx((1e-4 + 1e-9 * 4096 ** 2)
                                                                      / (1e-4 + 7e-7 * 4096), rel=0.1)


def test_crossover_against_softmax_reports_always_faster(standard):
    table = crossovers(standard, "softmax").set_index("variant")
    assert table.loc["sdpa", "outcome"] == "always" and table.loc["sdpa", "faster_from"] == 128
    assert table.loc["fastformer", "faster_from"] == 512


def test_crossover_requires_staying_faster_and_notes_earlier_wins():
    sizes = [128, 256, 512, 1024, 2048]
    ref = sweep("sdpa", Law(0, 1.0, 0.0), sizes, noise=0.0)  # 1 s everywhere
    times = {128: 0.5, 256: 2.0, 512: 2.0, 1024: 0.5, 2048: 0.4}  # faster, slower, then faster for good
    blip = [r for n in sizes for r in sweep("linear", Law(times[n], 0, 1.0), [n], noise=0.0)]
    late = {128: 0.5, 256: 0.5, 512: 2.0, 1024: 2.0, 2048: 2.0}  # faster only at short lengths
    loses = [r for n in sizes for r in sweep("performer", Law(late[n], 0, 1.0), [n], noise=0.0)]
    table = crossovers(frame(ref + blip + loses), "sdpa").set_index("variant")
    assert table.loc["linear", "outcome"] == "crosses"
    assert (table.loc["linear", "slower_at"], table.loc["linear", "faster_from"]) == (512, 1024)
    assert "128" in table.loc["linear", "note"]
    assert table.loc["performer", "outcome"] == "never in range"
    assert table.loc["performer", "note"] == "faster only at 128, 256"


def test_crossover_is_empty_without_the_reference():
    table = crossovers(frame(sweep("linear", Law(0, 1e-6, 1.0), [128, 256])), "sdpa")
    assert table.empty


def test_each_crossover_row_carries_the_series_it_compares_in(standard):
    table = crossovers(standard, "sdpa")
    assert all(isinstance(key, SeriesKey) and key.model == "" for key in table["series"])
    assert {key.fixed_label() for key in table["series"]} == set(table["fixed"])


def test_overhead_bound_lengths_are_left_out_of_crossovers():
    from bench.analysis.replicates import config_table
    from tests.fixtures.synthetic import frame, record

    rows = [record("sdpa", [1e-3 * n / 128] * 5, seq_len=n, flops=10**9 * n // 128) for n in (128, 256, 512)]
    rows += [record("fastformer", [2e-3] * 5, seq_len=128, flops=10**6),  # a fixed cost: 2x the work at 256
             record("fastformer", [2e-3] * 5, seq_len=256, flops=2 * 10**6),
             record("fastformer", [0.5e-3] * 5, seq_len=512, flops=10**9)]
    configs = config_table(frame(rows))
    assert configs.loc[configs["model"] == "fastformer", "overhead_bound"].tolist() == [True, True, False]
    (row,) = crossovers(configs).to_dict("records")
    assert (row["outcome"], row["n_common"], row["n_min"]) == ("always", 1, 512)
