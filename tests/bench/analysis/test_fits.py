"""Fits: log-log slopes with honest intervals, non-negative quadratic fits with an interval on the N^2 share,
and the verdict rule (coverage on synthetic data: test_fit_coverage.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.fits import (
    LINEAR_BAND,
    QUADRATIC_BAND,
    TOO_FEW,
    SlopeFit,
    fit_quadratic,
    fit_range,
    loglog_slope,
    verdict,
)

SIZES = 2.0 ** np.arange(4, 13)


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_slope_of_an_exact_power_law_is_its_exponent_with_a_collapsed_interval(exponent):
    fit = loglog_slope(SIZES, 3e-5 * SIZES ** exponent)
    assert fit.slope == pytest.approx(exponent, abs=1e-9)
    assert fit.ci_low == pytest.approx(exponent, abs=1e-9)
    assert fit.ci_high == pytest.approx(exponent, abs=1e-9)
    assert fit.local_slope == pytest.approx(exponent) and fit.ci_method == "random-effects t"


def test_the_interval_widens_with_lack_of_fit_that_the_samples_do_not_show():
    straight = loglog_slope(SIZES, [[s, s * 1.001] for s in 1e-6 * SIZES])
    bent = loglog_slope(SIZES, [[v, v * 1.001] for v in 1e-6 * SIZES * (1 + (SIZES / SIZES[-1]) ** 2)])
    assert straight.ci_high - straight.ci_low < 0.01
    assert bent.ci_high - bent.ci_low > 10 * (straight.ci_high - straight.ci_low)


def test_the_interval_is_never_narrower_than_the_spread_between_passes_allows():
    rng = np.random.default_rng(0)
    exact = 1e-6 * SIZES
    passes = [[v * np.exp(0.2 * rng.standard_normal()) for _ in range(3)] for v in exact]
    on_line = [list(np.array(p) * v / np.exp(np.mean(np.log(p)))) for p, v in zip(passes, exact, strict=True)]
    fit = loglog_slope(SIZES, on_line)  # means exactly on the line, passes scattered by 20 %
    assert fit.slope == pytest.approx(1.0) and fit.ci_high - fit.ci_low > 0.05 and fit.passes == 3


def test_slope_uses_the_upper_half_of_the_log_range():
    # Flat up to x=16, quadratic after: only the upper half (x >= 16 of 1..256) must be fitted.
    x = 2.0 ** np.arange(0, 9)
    y = np.maximum(x, 16.0) ** 2
    fit = loglog_slope(x, y)
    assert (fit.x_min, fit.x_max, fit.n_points) == (16.0, 256.0, 5)
    assert fit.slope == pytest.approx(2.0)


def test_slope_keeps_at_least_five_distinct_sizes_and_merges_repeats_of_one_size():
    fit = loglog_slope([1, 2, 4, 8, 16, 32, 32], [1, 2, 4, 8, 16, 32, 32], upper_fraction=0.01)
    assert (fit.n_points, fit.x_min, fit.x_max) == (5, 2.0, 32.0)
    assert fit_range([1, 2, 4, 8, 16, 32, 32], 0.01).tolist() == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert fit_range([1, 2, 4, 8], 0.01).tolist() == [1.0, 2.0, 4.0, 8.0]  # fewer: all of them


@pytest.mark.parametrize("sizes", [[64, 64], [64, 128], [64, 128, 256]])
def test_fewer_than_four_sizes_give_no_slope_and_say_too_few_sizes(sizes):
    fit = loglog_slope(sizes, [float(s) for s in sizes])
    assert fit.slope is None and fit.ci_low is None and fit.note.startswith(TOO_FEW)
    assert verdict(fit) == TOO_FEW


def test_the_local_slope_is_that_of_the_last_doubling():
    fit = loglog_slope([1, 2, 4, 8], [1.0, 2.0, 4.0, 32.0])
    assert fit.local_slope == pytest.approx(3.0)
    assert loglog_slope([64, 128], [1.0, 4.0]).local_slope == pytest.approx(2.0)


def test_non_positive_points_are_dropped_before_the_fit():
    fit = loglog_slope([0, 8, 16, 32, 64, 128], [5.0, 64.0, 256.0, float("nan"), 4096.0, 128.0 ** 2])
    assert fit.n_points == 4 and fit.slope == pytest.approx(2.0)


def test_slope_rejects_bad_parameters():
    with pytest.raises(ValueError, match="upper_fraction"):
        loglog_slope([1, 2, 4, 8], [1, 2, 4, 8], upper_fraction=0.0)
    with pytest.raises(ValueError, match="one entry per point"):
        loglog_slope([1, 2, 4], [1, 2])


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


def test_the_n2_share_interval_separates_a_real_n2_term_from_curvature():
    x = np.array([512, 1024, 2048, 4096, 8192], dtype=float)
    rng = np.random.default_rng(1)
    noise = np.exp(0.02 * rng.standard_normal(x.size))
    quadratic = fit_quadratic(x, (1e-3 * x + 1e-6 * x ** 2) * noise)
    assert quadratic.significant and quadratic.label == "N² term"
    assert quadratic.share_low <= quadratic.quadratic_share <= quadratic.share_high
    linear = fit_quadratic(x, 1e-3 * x * noise)
    assert not linear.significant and linear.label == "curvature" and linear.share_low == 0.0


def test_fewer_than_four_sizes_give_no_n2_share_interval():
    fit = fit_quadratic([1, 2, 4], [1.0, 2.0, 4.0])
    assert fit.share_low is None and fit.share_high is None and not fit.significant


def test_quadratic_fit_rejects_non_positive_or_too_few_sizes():
    with pytest.raises(ValueError, match="positive"):
        fit_quadratic([1, 2, 3], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="2 distinct"):
        fit_quadratic([4, 4], [1.0, 2.0])


def _fit(low: float | None, high: float | None, slope: float = 1.0) -> SlopeFit:
    return SlopeFit(slope, low, high, 5, 1.0, 2.0)


@pytest.mark.parametrize("low, high, expected", [
    (0.9, 1.1, "linear"), (0.71, 1.29, "linear"), (1.8, 2.1, "quadratic"), (1.61, 2.39, "quadratic"),
    (LINEAR_BAND[0], 1.0, "inconclusive"), (1.0, LINEAR_BAND[1], "inconclusive"),
    (QUADRATIC_BAND[0], 2.0, "inconclusive"), (1.2, 1.7, "inconclusive"), (0.1, 0.3, "inconclusive"),
    (2.5, 2.7, "inconclusive"), (None, None, "inconclusive"),
])
def test_verdict_requires_the_whole_interval_inside_a_band(low, high, expected):
    assert verdict(_fit(low, high)) == expected
