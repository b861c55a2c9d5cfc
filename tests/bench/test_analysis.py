"""Scaling analysis: slopes with bootstrap CIs, non-negative quadratic fits, verdicts, series, crossovers,
largest sizes that fit and achieved FLOP/s."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.analysis import (
    LINEAR_BAND,
    QUADRATIC_BAND,
    SlopeFit,
    achieved_flops,
    crossovers,
    fit_quadratic,
    iter_series,
    largest_fit,
    loglog_slope,
    peak_flops,
    sample_list,
    scaling_table,
    verdict,
)
from tests.bench.synthetic import Law, frame, standard_frame, sweep

SIZES = 2.0 ** np.arange(4, 13)


@pytest.fixture(scope="module")
def standard() -> pd.DataFrame:
    return standard_frame()


def _noisy_samples(exponent: float, seed: int, noise: float = 0.05) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [1e-6 * x ** exponent * np.exp(noise * rng.standard_normal(15)) for x in SIZES]


# loglog_slope

@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_slope_of_an_exact_power_law_is_its_exponent_with_a_collapsed_ci(exponent):
    fit = loglog_slope(SIZES, 3e-5 * SIZES ** exponent, n_boot=50)
    assert fit.slope == pytest.approx(exponent, abs=1e-9)
    assert fit.ci_low == pytest.approx(exponent, abs=1e-9)
    assert fit.ci_high == pytest.approx(exponent, abs=1e-9)
    assert fit.ci_method == "residuals"


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_sample_bootstrap_ci_contains_the_slope_and_covers_the_truth_in_most_seeds(exponent):
    covered = 0
    for seed in range(20):
        fit = loglog_slope(SIZES, samples=_noisy_samples(exponent, seed), n_boot=200, seed=seed)
        assert fit.ci_method == "samples"
        assert fit.ci_low <= fit.slope <= fit.ci_high
        assert abs(fit.slope - exponent) < 0.05
        covered += fit.ci_low <= exponent <= fit.ci_high
    assert covered >= 17


def test_residual_bootstrap_covers_the_truth_in_most_seeds_without_samples():
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        y = SIZES ** 2 * np.exp(0.05 * rng.standard_normal(SIZES.size))
        fit = loglog_slope(SIZES, y, n_boot=200, seed=seed)
        assert fit.ci_method == "residuals" and fit.ci_low <= fit.slope <= fit.ci_high
        covered += fit.ci_low <= 2.0 <= fit.ci_high
    assert covered >= 14


def test_slope_ci_is_deterministic_for_a_seed_and_changes_with_it():
    samples = _noisy_samples(1.0, seed=3)
    first = loglog_slope(SIZES, samples=samples, n_boot=100, seed=7)
    assert first == loglog_slope(SIZES, samples=samples, n_boot=100, seed=7)
    assert (first.ci_low, first.ci_high) != (
        loglog_slope(SIZES, samples=samples, n_boot=100, seed=8).ci_low,
        loglog_slope(SIZES, samples=samples, n_boot=100, seed=8).ci_high)


def test_slope_uses_the_upper_half_of_the_log_range():
    # Flat up to x=16, quadratic after: only the upper half (x >= 16 of 1..256) must be fitted.
    x = 2.0 ** np.arange(0, 9)
    y = np.maximum(x, 16.0) ** 2
    fit = loglog_slope(x, y, n_boot=20)
    assert (fit.x_min, fit.x_max, fit.n_points) == (16.0, 256.0, 5)
    assert fit.slope == pytest.approx(2.0)


def test_slope_keeps_at_least_three_distinct_sizes_and_every_repeat_of_them():
    x = [1, 2, 4, 8, 8]
    fit = loglog_slope(x, [1, 2, 4, 8, 8], upper_fraction=0.01, n_boot=20)
    assert (fit.n_points, fit.x_min, fit.x_max) == (4, 2.0, 8.0)


def test_slope_with_one_size_reports_insufficient_data():
    fit = loglog_slope([64, 64], [1.0, 1.1])
    assert fit.slope is None and "insufficient" in fit.note
    assert verdict(fit) == "inconclusive"


def test_two_points_without_samples_give_a_slope_but_no_ci():
    fit = loglog_slope([64, 128], [1.0, 4.0])
    assert fit.slope == pytest.approx(2.0)
    assert fit.ci_low is None and fit.ci_high is None and "no CI" in fit.note
    assert verdict(fit) == "inconclusive"


def test_two_points_with_samples_get_a_noise_ci():
    fit = loglog_slope([64, 128], samples=[[1.0, 1.1, 0.9, 1.0], [4.0, 4.2, 3.9, 4.1]], n_boot=100)
    assert fit.ci_method == "samples" and fit.ci_low <= fit.slope <= fit.ci_high


def test_non_positive_points_are_dropped_before_the_fit():
    fit = loglog_slope([0, 8, 16, 32, 64], [5.0, 64.0, 256.0, float("nan"), 4096.0], n_boot=20)
    assert fit.n_points == 3 and fit.slope == pytest.approx(2.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"upper_fraction": 0.0}, "upper_fraction"), ({"n_boot": 0}, "n_boot"),
])
def test_slope_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        loglog_slope([1, 2, 4], [1, 2, 4], **kwargs)


def test_slope_needs_y_or_samples():
    with pytest.raises(ValueError, match="y values or raw samples"):
        loglog_slope([1, 2, 4])


# fit_quadratic

def test_quadratic_fit_recovers_known_non_negative_coefficients():
    x = np.array([128, 256, 512, 1024, 2048, 4096], dtype=float)
    fit = fit_quadratic(x, 1e-4 + 2e-7 * x + 3e-10 * x ** 2)
    assert fit.a == pytest.approx(1e-4, rel=1e-6)
    assert fit.b == pytest.approx(2e-7, rel=1e-6)
    assert fit.c == pytest.approx(3e-10, rel=1e-6)
    assert fit.quadratic_share == pytest.approx(3e-10 * 4096 ** 2 / fit(4096.0))


def test_quadratic_fit_of_linear_data_has_no_quadratic_term():
    x = np.array([128, 256, 512, 1024], dtype=float)
    fit = fit_quadratic(x, 5e-4 + 1e-6 * x)
    assert fit.c == 0.0 and fit.quadratic_share == 0.0
    assert fit.b == pytest.approx(1e-6, rel=1e-6)


def test_quadratic_fit_never_returns_a_negative_coefficient_where_least_squares_would():
    x = np.array([1, 2, 3, 4, 5], dtype=float)
    y = 10.0 - 1.5 * x  # decreasing: the unconstrained fit has b < 0
    unconstrained = np.polyfit(x, y, 1)
    assert unconstrained[0] < 0
    fit = fit_quadratic(x, y)
    assert min(fit.a, fit.b, fit.c) >= 0


@pytest.mark.parametrize("seed", range(10))
def test_quadratic_fit_satisfies_the_nnls_optimality_conditions(seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(1, 100, size=8))
    y = rng.uniform(0.5, 5, size=8) * [np.ones_like(x), x, x ** 2 / 50][seed % 3]
    fit = fit_quadratic(x, y)
    coef = np.array([fit.a, fit.b, fit.c])
    assert np.all(coef >= 0)
    design = np.stack([np.ones_like(x), x, x ** 2], axis=1) / y[:, None]
    gradient = design.T @ (design @ coef - 1.0)
    scale = np.abs(design).max(axis=0) * np.sqrt(len(x))
    # KKT: zero gradient on positive coefficients, non-negative gradient on zero ones.
    for value, grad, s in zip(coef, gradient, scale, strict=True):
        if value > 0:
            assert abs(grad) <= 1e-6 * s
        else:
            assert grad >= -1e-6 * s


def test_quadratic_fit_rejects_non_positive_or_too_few_sizes():
    with pytest.raises(ValueError, match="positive"):
        fit_quadratic([1, 2, 3], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="2 distinct"):
        fit_quadratic([4, 4], [1.0, 2.0])


# verdict

def _fit(low: float | None, high: float | None, slope: float = 1.0) -> SlopeFit:
    return SlopeFit(slope, low, high, 5, 1.0, 2.0)


@pytest.mark.parametrize("low, high, expected", [
    (0.9, 1.1, "linear"), (0.71, 1.29, "linear"), (1.8, 2.1, "quadratic"), (1.61, 2.39, "quadratic"),
    (LINEAR_BAND[0], 1.0, "inconclusive"), (1.0, LINEAR_BAND[1], "inconclusive"),
    (QUADRATIC_BAND[0], 2.0, "inconclusive"), (1.2, 1.7, "inconclusive"), (0.1, 0.3, "inconclusive"),
    (2.5, 2.7, "inconclusive"), (None, None, "inconclusive"),
])
def test_verdict_requires_the_whole_ci_inside_a_band(low, high, expected):
    assert verdict(_fit(low, high)) == expected


# series and scaling_table

def test_scaling_table_finds_the_known_classes_along_every_axis(standard):
    time_n = scaling_table(standard, "seq_len", n_boot=100).set_index("variant")
    assert time_n.loc["sdpa", "verdict"] == "quadratic" and time_n.loc["softmax", "verdict"] == "quadratic"
    for variant in ("fastformer", "fastformer[scorer=official]", "linear"):
        assert time_n.loc[variant, "verdict"] == "linear"
        assert time_n.loc[variant, "c"] == pytest.approx(0.0, abs=1e-12)
    assert "performer" not in time_n.index  # one ok length only
    assert time_n.loc["softmax", "n_total"] == 5  # the oom point is left out
    assert (time_n["verdict"] == time_n["expected"]).all()
    assert (time_n["threads"] == 2).all()
    memory = scaling_table(standard, "seq_len", "peak_bytes", n_boot=100).set_index("variant")
    assert memory.loc["softmax", "verdict"] == "quadratic" and memory.loc["sdpa", "verdict"] == "linear"
    batch = scaling_table(standard, "batch", n_boot=100)
    assert batch["verdict"].tolist() == ["linear"]
    assert batch["fixed"].iloc[0] == "seq_len=384, d_model=64, n_heads=4"
    width = scaling_table(standard, "d_model", n_boot=100)
    assert width["verdict"].tolist() == ["quadratic"]


def test_tokens_coupled_series_are_analysed_per_sequence():
    sizes = [128, 256, 512, 1024, 2048, 4096]
    records = (sweep("fastformer", Law(1e-5, 1e-7, 1.0), sizes, tokens=8192, seed=1)
               + sweep("softmax", Law(1e-6, 1e-9, 2.0), sizes, tokens=8192, seed=2))
    table = scaling_table(frame(records), n_boot=100).set_index("variant")
    assert set(table["coupling"]) == {"tokens"}
    assert table.loc["fastformer", "metric"] == "median_s per sequence"
    assert table.loc["fastformer", "verdict"] == "linear"
    assert table.loc["softmax", "verdict"] == "quadratic"


def test_a_point_belongs_to_one_series_per_axis_and_fixed_batch_comes_first():
    # A fixed-batch sweep plus a point with another batch and the same tokens as one of it must not
    # form a spurious fixed-tokens series.
    records = (sweep("fastformer", Law(0, 1e-6, 1.0), [256, 512, 1024], batch=2)
               + sweep("fastformer", Law(0, 1e-6, 1.0), [512], batch=1, seed=5))
    series = list(iter_series(frame(records), "seq_len"))
    assert [(s.coupling, len(s.frame)) for s in series] == [("fixed", 3)]


def test_series_never_mix_devices_dtypes_or_modes():
    records = (sweep("sdpa", Law(0, 1e-9, 2.0), [128, 256])
               + sweep("sdpa", Law(0, 1e-9, 2.0), [512, 1024], dtype="float64")
               + sweep("sdpa", Law(0, 1e-9, 2.0), [512, 1024], mode="train"))
    series = list(iter_series(frame(records), "seq_len"))
    assert sorted((s.keys["dtype"], s.keys["mode"], len(s.frame)) for s in series) == [
        ("float32", "forward", 2), ("float32", "train", 2), ("float64", "forward", 2)]


def test_scaling_table_rejects_unknown_axis_or_metric(standard):
    with pytest.raises(ValueError, match="axis"):
        scaling_table(standard, "heads")
    with pytest.raises(ValueError, match="metric"):
        scaling_table(standard, metric="tokens_per_s")


# crossovers

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


# largest_fit

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


# achieved_flops

@pytest.mark.parametrize("name, dtype, expected", [
    ("NVIDIA H100 80GB HBM3", "bfloat16", 989e12), ("NVIDIA H100 80GB HBM3", "float32", 67e12),
    ("NVIDIA H200", "float16", 989e12), ("NVIDIA A100-SXM4-80GB", "float32", 19.5e12),
    ("Tesla V100-SXM2-32GB", "float16", 125e12), ("NVIDIA H100 PCIe", "bfloat16", None),
    ("Tesla V100-PCIE-32GB", "float16", None), ("NVIDIA A100-SXM4-80GB", "float64", None),
    ("AMD EPYC 7B13", "float32", None), (None, "float32", None),
])
def test_peak_flops_only_for_listed_gpus_and_dtypes(name, dtype, expected):
    assert peak_flops(name, dtype) == expected


def test_achieved_flops_gives_a_fraction_of_peak_only_for_known_gpus():
    cpu = sweep("sdpa", Law(0, 1e-9, 2.0), [256], flops_law=Law(0, 4e3, 2.0), noise=0.0)
    gpu = sweep("sdpa", Law(0, 1e-12, 2.0), [256], flops_law=Law(0, 4e3, 2.0), noise=0.0, device="cuda",
                device_name="NVIDIA H100 80GB HBM3", dtype="bfloat16")
    table = achieved_flops(frame(cpu + gpu)).set_index("device")
    rate = 4e3 * 256 ** 2 / (1e-12 * 256 ** 2)
    assert table.loc["cuda", "flops_per_s"] == pytest.approx(rate)
    assert table.loc["cuda", "fraction_of_peak"] == pytest.approx(rate / 989e12)
    assert table.loc["cuda", "peak_source"] == "vendor datasheet"
    assert pd.isna(table.loc["cpu", "peak_flops_per_s"]) and pd.isna(table.loc["cpu", "fraction_of_peak"])
    assert table.loc["cpu", "flops_source"] == "analytic"


def test_sample_list_reads_lists_json_and_missing_values():
    assert sample_list([1, 2]) == [1.0, 2.0]
    assert sample_list(json.dumps([0.5, 0.25])) == [0.5, 0.25]
    assert sample_list(None) == [] and sample_list(math.nan) == [] and sample_list("") == []
