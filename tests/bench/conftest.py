"""Shared by the gate's tests and the gate report's: the default policy (fewer bootstrap resamples)
and a baseline made with it."""

import dataclasses

import pytest

from bench.gate import load_policy, make_baseline
from tests.fixtures.gate_data import CPU_A, make_results


@pytest.fixture(scope="session")
def policy():
    return dataclasses.replace(load_policy(), n_boot=200)


@pytest.fixture(scope="session")
def baseline(policy):
    """A baseline of one synthetic run on CPU A (seed 1)."""
    return make_baseline(make_results(CPU_A, seed=1), policy)
