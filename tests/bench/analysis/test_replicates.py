"""bench.analysis.replicates.config_table: a configuration's replicated passes combined into one row."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bench.analysis.replicates import config_table
from bench.results.record import Record
from bench.results.stats import Summary
from bench.results.table import records_table
from tests.fixtures.synthetic import frame, passes, record

FACTORS = (0.98, 0.99, 1.0, 1.01, 1.02)  # tests.fixtures.synthetic.passes' five samples around each median
EXTRA = ["pass_medians_s", "n_passes", "gemm_fraction", "overhead_bound", "overhead_reason"]


def samples(median: float) -> list[float]:
    return [median * f for f in FACTORS]


def three_passes(**config) -> list[Record]:
    """One configuration in three passes (medians 1, 4, 2 ms); only pass 0 has memory and FLOPs, as a real
    run stores them."""
    return [record("sdpa", samples(1e-3), pass_index=0, peak_bytes=5000, flops=8 * 10**6, **config),
            record("sdpa", samples(4e-3), pass_index=1, **config),
            record("sdpa", samples(2e-3), pass_index=2, **config)]


def timed_out(ok: Record, pass_index: int) -> Record:
    return Record(config=replace(ok.config, pass_index=pass_index), status="timeout", run_id=ok.run_id,
                  env_id=ok.env_id, device_name=ok.device_name, error="timed out after 300 s")


def test_one_row_per_configuration_with_the_median_of_the_pass_medians():
    records = three_passes() + passes("fastformer", [3e-3, 5e-3]) + passes("sdpa", [1e-3], seq_len=512)
    table = config_table(frame(records))
    assert len(table) == 3
    assert list(zip(table["model"], table["seq_len"], strict=True)) == [("sdpa", 256), ("fastformer", 256),
                                                                       ("sdpa", 512)]
    assert table["n_passes"].tolist() == [3, 2, 1]
    assert table["median_s"].tolist() == pytest.approx([2e-3, 4e-3, 1e-3])


def test_pass_medians_are_in_pass_order_whatever_the_order_of_the_rows():
    first, second, third = three_passes()
    table = config_table(frame([third, first, second]))
    assert len(table) == 1
    assert table.loc[0, "pass_medians_s"] == pytest.approx([1e-3, 4e-3, 2e-3])
    assert table.loc[0, "median_s"] == pytest.approx(2e-3)


def test_the_samples_of_all_passes_are_pooled_for_display():
    table = config_table(frame(three_passes()))
    row = table.loc[0]
    pooled = samples(1e-3) + samples(4e-3) + samples(2e-3)
    assert row["samples_s"] == pytest.approx(pooled)
    assert row["n_samples"] == 15
    summary = Summary.from_samples(pooled)
    assert (row["iqr_s"], row["p10_s"], row["p90_s"]) == pytest.approx((summary.iqr, summary.p10, summary.p90))
    assert bool(row["noisy"]) is True  # passes 1 to 4 ms apart: the pooled spread is far above 10 %


def test_memory_and_flops_come_from_pass_0_and_the_rates_from_the_combined_median():
    raw = frame(three_passes())
    assert raw["peak_bytes"].isna().tolist() == [False, True, True]
    assert raw["flops_analytic"].isna().tolist() == [False, True, True]
    row = config_table(raw).loc[0]
    assert row["peak_bytes"] == 5000 and row["flops_analytic"] == 8 * 10**6
    assert row["flops_per_s"] == pytest.approx(8 * 10**6 / 2e-3)  # pass 0's own rate was 8e6 / 1e-3
    assert row["tokens_per_s"] == pytest.approx(2 * 256 / 2e-3)
    assert row["pass"] == 0


def test_counted_flops_are_preferred_over_the_analytic_count_for_the_rate():
    raw = frame(three_passes())
    raw.loc[0, "flops_counted"] = 6 * 10**6
    assert config_table(raw).loc[0, "flops_per_s"] == pytest.approx(6 * 10**6 / 2e-3)


def test_gemm_fraction_is_the_rate_over_the_probe_rate_when_the_file_has_a_probe():
    probe = {"device": "cpu", "dtype": "float32", "d_model": 64, "flops_per_s": 1e12, "run_id": "synthetic",
             "threads_used": 2}
    with_probe = config_table(records_table(three_passes(), None, probes=[probe])).loc[0]
    assert with_probe["probe_flops_per_s"] == 1e12
    assert with_probe["gemm_fraction"] == pytest.approx(8 * 10**6 / 2e-3 / 1e12)
    without = config_table(frame(three_passes())).loc[0]
    assert pd.isna(without["probe_flops_per_s"]) and without["gemm_fraction"] is None


def test_a_probe_at_another_width_gives_no_gemm_fraction():
    probe = {"device": "cpu", "dtype": "float32", "d_model": 128, "flops_per_s": 1e12, "run_id": "synthetic"}
    row = config_table(records_table(three_passes(), None, probes=[probe])).loc[0]
    assert row["gemm_fraction"] is None


def test_a_later_pass_that_timed_out_leaves_the_configuration_ok_with_only_its_ok_passes():
    first, second, _ = three_passes()
    table = config_table(frame([first, second, timed_out(first, 2)]))
    assert len(table) == 1
    row = table.loc[0]
    assert row["status"] == "ok" and row["n_passes"] == 2
    assert row["pass_medians_s"] == pytest.approx([1e-3, 4e-3])
    assert row["median_s"] == pytest.approx(2.5e-3)
    assert row["n_samples"] == 10 and row["peak_bytes"] == 5000


def test_a_configuration_that_failed_in_every_pass_stays_failed_with_no_passes():
    ok = record("sdpa", samples(1e-3))
    failed = [Record(config=replace(ok.config, seq_len=8192), status="oom", run_id="synthetic", env_id="env0",
                     device_name="Synthetic CPU", error="OutOfMemoryError: tried to allocate 64.00 GiB")]
    table = config_table(frame([ok, *failed]))
    assert len(table) == 2
    row = table.loc[1]
    assert row["status"] == "oom" and row["seq_len"] == 8192
    assert row["n_passes"] == 0 and row["pass_medians_s"] == []
    assert pd.isna(row["median_s"]) and row["gemm_fraction"] is None
    assert row["overhead_bound"] is None and row["overhead_reason"] is None
    assert row["error"].startswith("OutOfMemoryError")


def test_rows_measured_on_different_hardware_are_not_merged():
    fast = frame(passes("sdpa", [1e-3, 1e-3]), cpu_model="CPU A", gpu_name=None)
    slow = frame(passes("sdpa", [5e-3, 5e-3]), cpu_model="CPU B", gpu_name=None)
    table = config_table(pd.concat([fast, slow], ignore_index=True))
    assert len(table) == 2
    assert table["hardware"].tolist() == ["cpu:CPU A xNone", "cpu:CPU B xNone"]
    assert table["median_s"].tolist() == pytest.approx([1e-3, 5e-3])
    assert table["n_passes"].tolist() == [2, 2]


def test_a_table_without_a_pass_column_gives_one_pass_per_configuration():
    raw = frame(passes("sdpa", [1e-3]) + passes("sdpa", [3e-3], seq_len=512)).drop(columns=["pass"])
    table = config_table(raw)
    assert len(table) == 2 and "pass" not in table.columns
    assert table["n_passes"].tolist() == [1, 1]
    assert table["pass_medians_s"].tolist() == [pytest.approx([1e-3]), pytest.approx([3e-3])]
    assert table["median_s"].tolist() == pytest.approx([1e-3, 3e-3])


def test_a_table_without_a_hardware_column_is_grouped_as_one_unknown_hardware():
    raw = frame(three_passes()).drop(columns=["hardware"])
    table = config_table(raw)
    assert len(table) == 1 and table.loc[0, "n_passes"] == 3 and "hardware" not in table.columns


def test_an_empty_table_gives_no_rows_and_all_the_columns():
    raw = frame([])
    table = config_table(raw)
    assert table.empty
    assert list(table.columns) == [*raw.columns, *EXTRA]


def test_the_combined_median_of_an_even_number_of_passes_is_the_mean_of_the_middle_two():
    table = config_table(frame(passes("sdpa", [1e-3, 2e-3, 6e-3, 3e-3])))
    assert table.loc[0, "median_s"] == pytest.approx(float(np.median([1e-3, 2e-3, 6e-3, 3e-3])))
    assert table.loc[0, "median_s"] == pytest.approx(2.5e-3)


def test_overhead_marks_are_added_to_every_ok_configuration():
    table = config_table(frame(passes("sdpa", [1e-3], flops=10**6) + passes("sdpa", [1e-3], seq_len=512,
                                                                             flops=4 * 10**6)))
    assert table["overhead_bound"].tolist() == [True, False]
    assert "N=512" in table.loc[0, "overhead_reason"]
