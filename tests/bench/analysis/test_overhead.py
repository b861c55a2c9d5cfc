"""bench.analysis.overhead.mark_overhead: which configurations' times measure a fixed cost, not their work."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.analysis.overhead import mark_overhead, work_of


def row(model: str = "sdpa", *, seq_len: int = 256, batch: int = 2, median_s: float = 1e-3,
        flops: float | None = 1e6, status: str = "ok", probe: float | None = None, **setting) -> dict:
    """One configuration row as config_table gives it; flops_per_s = flops / median_s, gemm_fraction its
    share of the probe's rate."""
    values = {"model": model, "options": "{}", "causal": False, "dtype": "float32", "device": "cpu",
              "mode": "forward", "scope": "attention", "hardware": "cpu:Test CPU x2", "seq_len": seq_len,
              "batch": batch, "d_model": 64, "status": status, "median_s": median_s if status == "ok" else None,
              "flops_counted": None, "flops_analytic": flops, "probe_flops_per_s": probe, **setting}
    ok = status == "ok" and flops is not None
    values["flops_per_s"] = values["flops_analytic"] / values["median_s"] if ok else None
    values["gemm_fraction"] = values["flops_per_s"] / probe if ok and probe else None
    return values


def marks(*rows: dict) -> list[tuple[object, object]]:
    out = mark_overhead(pd.DataFrame(list(rows)))
    return list(zip(out["overhead_bound"], out["overhead_reason"], strict=True))


def test_a_configuration_whose_time_does_not_grow_with_twice_the_work_is_overhead_bound():
    (small_bound, small_reason), (big_bound, big_reason) = marks(
        row(seq_len=256, median_s=1.0e-3, flops=1e6), row(seq_len=1024, median_s=1.1e-3, flops=4e6))
    assert small_bound is True
    assert small_reason == "N=1024 B=2 d=64 does 4.0x its FLOPs in 1.10x its time"
    assert big_bound is False and big_reason is None


def test_the_flat_time_rule_holds_at_exactly_twice_the_flops_in_1_25_times_the_time():
    (bound, reason), _ = marks(row(seq_len=256, median_s=1.0, flops=1e6),
                               row(seq_len=512, median_s=1.25, flops=2e6))
    assert bound is True and reason == "N=512 B=2 d=64 does 2.0x its FLOPs in 1.25x its time"


@pytest.mark.parametrize(("other_flops", "other_time"), [
    (1.9e6, 1.0e-3),  # under twice the work, in the same time
    (2.0e6, 1.3e-3),  # twice the work, but more than 1.25x the time
    (4.0e6, 4.0e-3),  # time grows with work
])
def test_not_overhead_bound_when_time_grows_with_work(other_flops, other_time):
    assert marks(row(seq_len=256, median_s=1e-3, flops=1e6),
                 row(seq_len=512, median_s=other_time, flops=other_flops)) == [(False, None), (False, None)]


def test_the_reason_names_the_configuration_that_shows_the_flat_time():
    (_, reason), _ = marks(row(seq_len=128, batch=1, median_s=1e-3, flops=1e6),
                           row(seq_len=128, batch=8, median_s=1e-3, flops=8e6))
    assert reason.startswith("N=128 B=8 d=64 does 8.0x its FLOPs in 1.00x its time")


def test_a_rate_below_two_percent_of_the_probe_matmul_rate_is_overhead_bound():
    slow, fast = marks(row(flops=1e6, median_s=1e-3, probe=1e11),  # 1e9 FLOP/s: 1.0 % of the probe
                       row("fastformer", flops=3e6, median_s=1e-3, probe=1e11))  # 3e9: 3.0 %
    assert slow == (True, "1.0% of the machine's matmul rate at this width")
    assert fast == (False, None)


def test_without_a_probe_the_reference_is_the_best_rate_on_the_same_device_and_dtype():
    slow, edge, best = marks(row(flops=1e6, median_s=1e-3),  # 1e9 FLOP/s: 1 % of the best
                             row("linear", flops=2e6, median_s=1e-3),  # 2e9: exactly 2 %, not below
                             row("fastformer", flops=1e8, median_s=1e-3))  # 1e11: the best
    assert slow == (True, "1.0% of the best rate of this run on this device")
    assert edge == (False, None) and best == (False, None)


@pytest.mark.parametrize("other", [{"dtype": "float64"}, {"device": "cuda"}, {"hardware": "cpu:Other CPU x8"}])
def test_the_best_rate_is_only_taken_from_the_same_device_dtype_and_hardware(other):
    assert marks(row(flops=1e6, median_s=1e-3),
                 row("fastformer", flops=1e8, median_s=1e-3, **other)) == [(False, None), (False, None)]


def test_the_probe_takes_precedence_over_the_best_rate():
    # 1 % of the run's best rate, but 50 % of a slow probe: judged by the probe, not overhead-bound.
    slow, _ = marks(row(flops=1e6, median_s=1e-3, probe=2e9), row("fastformer", flops=1e8, median_s=1e-3))
    assert slow == (False, None)


def test_the_flat_time_reason_comes_before_the_rate_reason():
    (bound, reason), _ = marks(row(seq_len=256, flops=1e6, median_s=1e-3, probe=1e12),
                               row(seq_len=512, flops=2e6, median_s=1e-3, probe=1e12))
    assert bound is True and reason.startswith("N=512 B=2 d=64 does 2.0x its FLOPs")


@pytest.mark.parametrize("status", ["oom", "error", "timeout", "skipped"])
def test_rows_that_are_not_ok_get_none(status):
    failed, ok, bigger = marks(row(seq_len=128, status=status), row(seq_len=256, median_s=1e-3, flops=1e6),
                               row(seq_len=512, median_s=1e-3, flops=4e6))
    assert failed == (None, None)
    assert ok[0] is True and bigger == (False, None)


def test_an_ok_row_without_a_median_gets_none():
    assert marks(row(median_s=float("nan"), flops=None)) == [(None, None)]


@pytest.mark.parametrize("differs", [
    {"model": "fastformer"}, {"options": '{"scorer": "official"}'}, {"causal": True}, {"dtype": "float64"},
    {"device": "cuda"}, {"mode": "train"}, {"scope": "block"}, {"hardware": "cpu:Other CPU x8"},
])
def test_configurations_of_different_layers_or_settings_never_judge_each_other_by_flat_time(differs):
    # Four times the work in the same time, but in another layer or setting; the rates stay within 4x,
    # so the rate rule does not fire either.
    assert marks(row(seq_len=256, flops=1e6, median_s=1e-3),
                 row(seq_len=1024, flops=4e6, median_s=1e-3, **differs)) == [(False, None), (False, None)]


def test_without_flops_neither_rule_applies():
    assert marks(row(seq_len=256, flops=None, median_s=1e-3),
                 row(seq_len=1024, flops=None, median_s=1e-3)) == [(False, None), (False, None)]


def test_work_is_the_counted_flops_else_the_analytic_count():
    assert work_of({"flops_counted": 300, "flops_analytic": 200}) == 300.0
    assert work_of({"flops_counted": None, "flops_analytic": 200}) == 200.0
    assert work_of({"flops_counted": float("nan"), "flops_analytic": 200}) == 200.0
    assert work_of({"flops_counted": 0, "flops_analytic": 0}) is None
    assert work_of({}) is None


def test_the_marks_keep_the_table_index_and_other_columns():
    table = pd.DataFrame([row(seq_len=256), row(seq_len=1024, flops=4e6)], index=[7, 3])
    out = mark_overhead(table)
    assert list(out.index) == [7, 3]
    assert list(out.columns) == [*table.columns, "overhead_bound", "overhead_reason"]
    assert out.loc[7, "overhead_bound"] is True and "overhead_bound" not in table.columns


def test_noise_between_passes_cannot_fake_a_flat_time():
    """The median says 2.2x the work in 0.7x the time, but the passes overlap: that is noise, not a floor."""
    from bench.analysis.replicates import config_table
    from tests.fixtures.synthetic import frame, passes

    noisy = passes("softmax", [0.010, 0.020, 0.030], seq_len=512, flops=10**9)
    steady = passes("softmax", [0.014, 0.014, 0.014], seq_len=1024, flops=22 * 10**8)
    table = config_table(frame(noisy + steady)).set_index("seq_len")
    assert table.loc[512, "median_s"] == 0.020 and table.loc[1024, "median_s"] == 0.014
    assert table.loc[512, "overhead_bound"] is False
    flat = config_table(frame(passes("softmax", [0.020, 0.021, 0.019], seq_len=512, flops=10**9)
                              + steady)).set_index("seq_len")
    assert flat.loc[512, "overhead_bound"] is True
