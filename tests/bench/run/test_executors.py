"""bench.run.executors: executors are found by name; the local one is registered."""

from __future__ import annotations

import pytest

from bench.run.executors import Executor, executor_names, make_executor, register_executor
from bench.run.executors.local import LocalExecutor


def test_the_local_executor_is_registered_and_built_by_name():
    assert "local" in executor_names()
    executor = make_executor("local", fresh_worker_per_config=True)
    assert isinstance(executor, LocalExecutor) and executor.slots == 1 and executor.workers[0].fresh


def test_an_unknown_executor_names_the_available_ones():
    with pytest.raises(ValueError, match="unknown executor 'nonesuch'; available: .*local"):
        make_executor("nonesuch")


def test_two_executors_cannot_share_a_name():
    class Other(Executor):
        name = "local"

    with pytest.raises(ValueError, match="registered twice"):
        register_executor(Other)
