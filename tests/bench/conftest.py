"""Shared by the gate's tests and the gate report's: the default policy and a baseline made with it."""

import pytest

from bench.gate import load_policy, make_baseline
from tests.fixtures.gate_data import CPU_A, make_runs


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture(scope="session")
def baseline(policy):
    """A baseline of three synthetic runs on CPU A (seeds 1-3), as the README recommends."""
    return make_baseline(make_runs(CPU_A, seeds=(1, 2, 3), prefix="base"), policy)
