"""bench.run.process: how a worker's exit is read and the environment it starts in."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bench.run.process import describe_exit

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("returncode", "status", "words"), [
    (-signal.SIGKILL, "oom", "SIGKILL"), (-signal.SIGSEGV, "error", "SIGSEGV"), (3, "error", "code 3"),
    (0, "error", "code 0"), (None, "error", "kept running"),
])
def test_exit_statuses_are_classified(returncode, status, words):
    got_status, message = describe_exit(returncode)
    assert got_status == status and words in message


def test_workers_get_steady_malloc_thresholds_unless_the_user_set_them(monkeypatch):
    from bench.run.process import STEADY_MALLOC, worker_environment

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    env = worker_environment()
    assert env["MALLOC_MMAP_THRESHOLD_"] == STEADY_MALLOC["MALLOC_MMAP_THRESHOLD_"]
    assert env["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)
