"""Bad input to any subcommand: one line naming the problem and the fix, exit 2, no traceback, nothing
written (issue 13's first block). Run in process from an empty folder, so any file written shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.cli import join_negative_values, main

REPO = Path(__file__).resolve().parents[3]
QUICK = REPO / "reports" / "quick-cpu" / "results.jsonl"
TINY = ["--models", "softmax", "--seq-len", "16", "--d-model", "8", "--heads", "1", "--device", "cpu"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder with a few bad files in it."""
    monkeypatch.chdir(tmp_path)
    lines = QUICK.read_text().splitlines(keepends=True)
    Path("corrupt.jsonl").write_text("".join(lines[:5]) + "not json\n" + "".join(lines[5:]))
    Path("sweep.toml").write_text("a = 1\n")
    Path("data.json").write_text('{"a": 1}\n')
    Path("binary.jsonl").write_bytes(bytes(range(256)))
    Path("torn.jsonl").write_bytes(bytes(range(11, 256)))  # no newline: read as one torn line
    Path("schema.jsonl").write_text('{"kind": "result", "schema": 99}\n')
    Path("latin1.toml").write_bytes('name = "café"\n'.encode("latin-1"))
    Path("afile").write_text("x")
    Path("emptydir").mkdir()
    shutil.copy(QUICK, "good.jsonl")
    Path("broken_syntax.py").write_text("def oops(:\n")
    Path("raises_at_import.py").write_text("raise RuntimeError('needs a licence server')\n")
    Path("raising_ctor.py").write_text(
        "from torch import nn\n\nclass Layer(nn.Module):\n"
        "    def __init__(self, d_model, n_heads, *, causal=False):\n"
        "        raise RuntimeError('width must be a power of two')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


CASES = [
    (["report", "corrupt.jsonl"], "corrupt.jsonl:6"),
    (["report", "sweep.toml"], "sweep.toml:1"),
    (["report", "data.json"], "data.json:1"),
    (["report", "binary.jsonl"], "binary.jsonl:1: not a JSON object"),
    (["report", "torn.jsonl"], "torn.jsonl holds no results"),
    (["report", "schema.jsonl"], "schema 99"),
    (["report", "emptydir"], "emptydir is a folder without a results.jsonl"),
    (["report", "nosuch.jsonl"], "results file nosuch.jsonl does not exist"),
    (["report", "good.jsonl", "--out", "afile"], "--out afile is a file"),
    (["compare", "corrupt.jsonl", "good.jsonl"], "corrupt.jsonl:6"),
    (["compare", "good.jsonl", "torn.jsonl"], "torn.jsonl holds no results"),
    (["compare", "good.jsonl", "emptydir"], "emptydir is a folder without a results.jsonl"),
    (["run", *TINY, "--out", "afile"], "--out afile is a file"),
    (["run", "latin1.toml"], "latin1.toml is not UTF-8 text"),
    (["run", *TINY, "--max-memory", "-1GiB"], "a memory size must be positive, got '-1GiB'"),
    (["run", *TINY, "--seed", "-1"], "timing.seed must be an integer >= 0, got -1"),
    (["run", "--resume", "no/such/run"], "--resume no/such/run: no results file there"),
    (["run", "--models", "broken_syntax:Layer"], "'broken_syntax' for model 'broken_syntax:Layer' fails to import: "
                                                  "SyntaxError"),
    (["run", "--models", "raises_at_import:Layer"], "fails to import: RuntimeError: needs a licence server"),
    (["run", "--models", "raising_ctor:Layer"], "building it raised RuntimeError: width must be a power of two"),
    (["run", "--models", "not_there:Layer"], "add that folder to PYTHONPATH"),
    (["gate", "--baseline", "b.json", "emptydir"], "emptydir is a folder without a results.jsonl"),
    (["gate", "--update-baseline", "--baseline", "emptydir", "good.jsonl"], "--baseline emptydir is a folder"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, workdir, capsys):
    before = _files(workdir)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert _files(workdir) == before


def test_a_memory_cap_below_the_workers_own_footprint_is_refused_before_anything_runs(workdir, capsys):
    before = _files(workdir)
    code = main(["run", *TINY, "--max-memory", "50MiB", "--out", "out"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "below the worker's own footprint" in err and len(err.splitlines()) == 1
    assert _files(workdir) == before


def test_a_value_starting_with_a_dash_is_kept_with_its_flag():
    assert join_negative_values(["run", "--max-memory", "-1GiB", "--seed", "3"]) == \
        ["run", "--max-memory=-1GiB", "--seed", "3"]
    assert join_negative_values(["run", "--max-memory=-1GiB", "-h"]) == ["run", "--max-memory=-1GiB", "-h"]
