"""Mann-Whitney U test (scipy): hand-computed values check how scipy is called, symmetry, power, calm."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.significance import mann_whitney_u, mann_whitney_u_one_sided


def test_separated_samples_match_the_hand_computed_normal_approximation():
    # U1 = 0 (every a below every b); mean 4.5; sd = sqrt(3*3*7/12) = sqrt(5.25);
    # z = (9 - 4.5 - 0.5) / sqrt(5.25) = 1.7457; two-sided p = 2 * (1 - Phi(z)) = 0.0808556.
    u, p = mann_whitney_u([1, 2, 3], [4, 5, 6])
    assert u == 0.0
    assert p == pytest.approx(0.0808556, abs=1e-6)


def test_ties_get_average_ranks_and_the_tie_corrected_variance():
    # Pooled 1,2,2,2,3,4 -> ranks 1,3,3,3,5,6; R1 = 7, U1 = 7 - 6 = 1.
    # Ties: one group of 3 -> sum(t^3 - t) = 24; var = 9/12 * (7 - 24/30) = 4.65.
    # Two-sided z = (8 - 4.5 - 0.5) / sqrt(4.65) = 1.3912 -> p = 0.164160; "less": same z, half the p.
    u, p = mann_whitney_u([1, 2, 2], [2, 3, 4])
    assert u == 1.0
    assert p == pytest.approx(0.164160, abs=1e-6)
    _, p_less = mann_whitney_u_one_sided([1, 2, 2], [2, 3, 4], "less")
    assert p_less == pytest.approx(0.082080, abs=1e-6)
    _, p_greater = mann_whitney_u_one_sided([1, 2, 2], [2, 3, 4], "greater")
    assert p_greater == pytest.approx(0.968199, abs=1e-6)


def test_u_statistics_of_both_orders_add_up_to_n1_n2():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=7), rng.normal(size=11)
    assert mann_whitney_u(a, b)[0] + mann_whitney_u(b, a)[0] == pytest.approx(77)
    assert mann_whitney_u(a, b)[1] == pytest.approx(mann_whitney_u(b, a)[1])


def test_clearly_different_timings_are_significant_in_the_right_direction():
    rng = np.random.default_rng(1)
    fast = 1e-3 * np.exp(0.05 * rng.standard_normal(20))
    slow = 1.3e-3 * np.exp(0.05 * rng.standard_normal(20))
    assert mann_whitney_u(fast, slow)[1] < 0.01
    assert mann_whitney_u_one_sided(fast, slow, "less")[1] < 0.01
    assert mann_whitney_u_one_sided(fast, slow, "greater")[1] > 0.99
    assert mann_whitney_u_one_sided(slow, fast, "greater")[1] == pytest.approx(
        mann_whitney_u_one_sided(fast, slow, "less")[1])


def test_samples_from_one_distribution_are_not_significant():
    rng = np.random.default_rng(2)
    a, b = np.exp(0.1 * rng.standard_normal(25)), np.exp(0.1 * rng.standard_normal(25))
    assert mann_whitney_u(a, b)[1] > 0.2


def test_identical_constant_samples_give_p_one():
    assert mann_whitney_u([1.0, 1.0, 1.0], [1.0, 1.0])[1] == 1.0


@pytest.mark.parametrize("a, b, message", [
    ([], [1.0], "at least one sample"), ([1.0, float("nan")], [1.0], "NaN"),
])
def test_bad_samples_are_rejected(a, b, message):
    with pytest.raises(ValueError, match=message):
        mann_whitney_u(a, b)


def test_unknown_alternative_is_rejected():
    with pytest.raises(ValueError, match="alternative"):
        mann_whitney_u_one_sided([1.0], [2.0], "smaller")
