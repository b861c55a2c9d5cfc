"""Malformed input through the real command line (one subprocess each, run a few at a time): every case
exits 2 with one line naming the field or file, never a traceback, and writes nothing, neither in the
folder it runs from nor in this repository's reports/."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GOOD = REPO / "reports" / "quick-cpu" / "results.jsonl"
BASE = 'models = ["softmax"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 8\nn_heads = 1\n'
SWEEPS = {  # file name -> (text appended to BASE, "^" put before it, "!" a whole file), the message
    "threads.toml": ("[timing]\nthreads = 1.5\n", "timing.threads must be a positive integer"),
    "timeout.toml": ("[timing]\ntimeout_s = true\n", "timing.timeout_s must be a positive number"),
    "budget.toml": ('[timing]\nbudget_s = "0.1"\n', "timing.budget_s must be a positive number"),
    "warmup.toml": ("[timing]\nwarmup = -1\n", "timing.warmup must be an integer >= 0"),
    "passes.toml": ("[timing]\npasses = 0\n", "timing.passes must be a positive integer"),
    "seed.toml": ("[timing]\nseed = 1.5\n", "timing.seed must be an integer >= 0"),
    "energy.toml": ('[timing]\nenergy = "yes"\n', "timing.energy must be true or false"),
    "timingkey.toml": ("[timing]\nrepeats = 3\n", "[timing] has unknown key(s) repeats"),
    "maxmem.toml": ('[timing]\nmax_memory = "lots"\n', "timing.max_memory"),
    "callbudget.toml": ("[budget]\nmax_call_s = true\n", "budget.max_call_s must be a positive number"),
    "budgetkey.toml": ("[budget]\nmax_time = 1\n", "[budget] has unknown key(s) max_time"),
    "executor.toml": ('[executor]\nname = "dask"\n', "executor.name must be one of local, ray, slurm"),
    "placement.toml": ('[executor]\nplacement = "anywhere"\n', "executor.placement must be one of"),
    "perdevice.toml": ("[executor]\nper_device = 3\n", "placement exclusive does not"),
    "executorkey.toml": ("[executor]\ngpus = 2\n", "unknown [executor] key(s) gpus"),
    "kind.toml": ('^kind = "random"\n', "kind must be one of scan, grid"),
    "device.toml": ('^device = ["tpu"]\n', "device must be one of auto, cpu, cuda"),
    "dtype.toml": ('^dtype = ["float8"]\n', "dtype must be one of"),
    "mode.toml": ('^mode = ["eval"]\n', "mode must be one of"),
    "scope.toml": ('^scope = "model"\n', "scope must be one of"),
    "causal.toml": ('^causal = ["yes"]\n', "causal must be a list of true/false"),
    "axis.toml": ("[axes]\nwidth = [1, 2]\n", "unknown axis 'width'"),
    "axisvalue.toml": ("[axes]\nseq_len = [16, -2]\n", "axes.seq_len must be a positive integer"),
    "toplevel.toml": ("^colour = 1\n", "unknown key(s) colour"),
    "notoml.toml": ("!name = [unclosed\n", "is not valid TOML"),
    "nomodels.toml": ("!name = \"empty\"\n[base]\nseq_len = 16\n", "models is required"),
    "heads.toml": ("!models = [\"softmax\"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 8\nn_heads = 3\n",
                   "not divisible"),
}
CASES = [
    *[(["run", name], message) for name, (_, message) in SWEEPS.items()],
    (["run", "latin1.toml"], "latin1.toml is not UTF-8 text"),
    (["run", "nosuch-preset"], "neither a preset"),
    (["run", "--models", "softmax", "--max-memory", "-1GiB"], "a memory size must be positive"),
    (["run", "--models", "softmax", "--seq-len", "0"], "expected positive integers"),
    (["run", "--models", "softmax", "--out", "afile"], "--out afile is a file"),
    (["run", "--models", "softmax", "--devices", "cuda:7"], "cuda:7 does not exist"),
    (["run", "--models", "softmax", "--placement", "packed", "--per-device", "0"], "executor.per_device"),
    (["run", "--resume", "no/such/run"], "--resume no/such/run"),
    (["report", "corrupt.jsonl"], "corrupt.jsonl:6"),
    (["report", "sweep.toml"], "sweep.toml:1"),
    (["report", "torn.jsonl"], "torn.jsonl holds no results"),
    (["report", "schema.jsonl"], "schema 99"),
    (["report", "emptydir"], "emptydir is a folder without a results.jsonl"),
    (["report", "nosuch.jsonl"], "nosuch.jsonl does not exist"),
    (["report", str(GOOD), "--out", "afile"], "--out afile is a file"),
    (["compare", "corrupt.jsonl", str(GOOD)], "corrupt.jsonl:6"),
    (["compare", str(GOOD), "torn.jsonl"], "torn.jsonl holds no results"),
    (["gate", "--baseline", "b.json", "emptydir"], "emptydir is a folder without a results.jsonl"),
    (["gate", "--update-baseline", "--baseline", "emptydir", str(GOOD)], "--baseline emptydir is a folder"),
    (["selfcheck", "--device", "tpu"], "--device"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case run once from a folder holding the bad files: (argv, message, result, files after)."""
    work = tmp_path_factory.mktemp("malformed")
    for name, (text, _) in SWEEPS.items():
        whole = {"!": text[1:], "^": text[1:] + BASE}.get(text[:1], BASE + text)
        (work / name).write_text(whole)
    (work / "latin1.toml").write_bytes('name = "café"\n'.encode("latin-1"))
    lines = GOOD.read_text().splitlines(keepends=True)
    (work / "corrupt.jsonl").write_text("".join(lines[:5]) + "not json\n" + "".join(lines[5:]))
    (work / "sweep.toml").write_text("a = 1\n")
    (work / "torn.jsonl").write_bytes(bytes(range(11, 256)))
    (work / "schema.jsonl").write_text('{"kind": "result", "schema": 99}\n')
    (work / "afile").write_text("x")
    (work / "emptydir").mkdir()
    before = set(work.rglob("*"))
    repo_before = _repo_state()

    def run(case):
        argv, message = case
        done = subprocess.run([sys.executable, str(REPO / "run_bench.py"), *argv], cwd=work, capture_output=True,
                              text=True, timeout=300, env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"})
        return argv, message, done

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, CASES))
    return results, before, set(work.rglob("*")), repo_before, _repo_state()


def _repo_state() -> set[Path]:
    """Everything under the repository's reports/, where a run without --out writes."""
    return set((REPO / "reports").rglob("*"))


def test_there_are_at_least_forty_malformed_inputs():
    assert len(CASES) >= 40


def test_each_malformed_input_is_one_line_naming_the_problem_and_exit_2(outcomes):
    results, *_ = outcomes
    wrong = []
    for argv, message, done in results:
        lines = done.stderr.strip().splitlines()
        if lines and lines[0].startswith("usage:"):  # argparse's usage block before its one-line error
            lines = lines[-1:]
        if done.returncode != 2 or "Traceback" in done.stderr or len(lines) != 1 or message not in lines[0]:
            wrong.append(f"{' '.join(argv)} -> exit {done.returncode}: {done.stderr.strip()[-300:]}")
    assert not wrong, "\n".join(wrong)


def test_malformed_input_writes_nothing_here_or_in_the_repository(outcomes):
    _, before, after, repo_before, repo_after = outcomes
    assert after == before
    assert repo_after == repo_before
