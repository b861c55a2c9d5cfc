"""Shared by the gate's tests and the gate report's: the default policy and a baseline made with it."""

import pytest

from bench.gate import load_policy, make_baseline
from tests.fixtures.gate_data import CPU_A, make_results


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture(scope="session")
def baseline(policy):
    """A baseline of one synthetic run on CPU A (seed 1)."""
    return make_baseline(make_results(CPU_A, seed=1), policy)
