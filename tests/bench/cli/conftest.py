"""The command line as a user runs it: `python run_bench.py ...` in a subprocess, and one tiny sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TINY = ["--models", "fastformer,softmax,linear[chunk_size=8]", "--seq-len", "16,32,64", "--d-model", "16",
        "--heads", "2", "--warmup", "0", "--min-repeats", "3", "--budget-s", "0.01", "--threads", "1"]


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_bench.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One tiny sweep (3 layers x 3 lengths) run through the command line, shared by the CLI tests."""
    out = tmp_path_factory.mktemp("run") / "tiny"
    return cli("run", *TINY, "--out", str(out)), out
