"""Summaries report the median with its spread and flag noisy samples."""

import math

import pytest

from bench.results.stats import NOISE_THRESHOLD, Summary, quantile


def test_quantile_interpolates_like_numpy():
    values = [4.0, 1.0, 3.0, 2.0]
    assert quantile(values, 0.5) == 2.5
    assert quantile(values, 0.0) == 1.0 and quantile(values, 1.0) == 4.0
    assert math.isclose(quantile(values, 0.1), 1.3)


def test_summary_of_a_known_sample():
    s = Summary.from_samples([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.n, s.median, s.iqr, s.min, s.max, s.mean) == (5, 3.0, 2.0, 1.0, 5.0, 3.0)
    assert math.isclose(s.p10, 1.4) and math.isclose(s.p90, 4.6)


def test_noise_flag_follows_iqr_over_median():
    assert not Summary.from_samples([1.0, 1.01, 1.02, 0.99]).noisy
    assert Summary.from_samples([1.0, 1.5, 0.6, 1.3]).noisy
    assert NOISE_THRESHOLD == 0.10


@pytest.mark.parametrize("samples", [[], [1.0, float("nan")], [float("inf")]])
def test_empty_or_non_finite_samples_are_refused(samples):
    with pytest.raises(ValueError):
        Summary.from_samples(samples)
