"""Fits: log-log slopes with bootstrap CIs, non-negative quadratic fits and the verdict rule."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.fits import LINEAR_BAND, QUADRATIC_BAND, SlopeFit, fit_quadratic, loglog_slope, verdict

SIZES = 2.0 ** np.arange(4, 13)


def _noisy_samples(exponent: float, seed: int, noise: float = 0.05) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [1e-6 * x ** exponent * np.exp(noise * rng.standard_normal(15)) for x in SIZES]


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
