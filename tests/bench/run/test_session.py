"""bench.run.session (with the local executor): configurations run in worker processes; every failure is
recorded and the run goes on.

These tests start real worker processes (each imports torch, 1-3 s), so failures are grouped into one
mixed run whose outcomes several tests examine.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch

from bench.config import BenchConfig
from bench.results.identity import ConfigKey
from bench.results.record import Record
from bench.results.store import ResultStore, RunInfo
from bench.run.executors import Completed, Executor
from bench.run.schedule import pass_order
from bench.run.session import RunnerError, make_run_id, run_configs
from tests.fixtures.failing_models import Raiser

REPO_ROOT = Path(__file__).resolve().parents[3]
MODELS = "tests.fixtures.failing_models:"
CAP = 1 << 30

USER_LAYER = '''
import torch
from torch import nn
from models.base import Attention


class UserLayer(Attention):
    name = "user_layer"

    def __init__(self, d_model, n_heads, *, causal=False):
        super().__init__(d_model, n_heads, causal=causal)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        return self.proj(x)

    def flops(self, batch, seq_len, *, elementwise=False):
        return 2 * batch * seq_len * self.d_model ** 2
'''


def cheap(model: str, **fields) -> BenchConfig:
    """A configuration that measures in well under a second."""
    name = model if ":" in model else MODELS + model
    settings = {"batch": 1, "seq_len": 8, "d_model": 16, "n_heads": 2, "warmup": 0, "min_repeats": 1,
                "max_repeats": 2, "budget_s": 0.01, **fields}
    return BenchConfig(model=name, **settings)


def result_lines(path: Path) -> list[dict]:
    """Every result line in the file as written (duplicates included)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row["kind"] == "result"]


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One run over well-behaved and failing configurations, started from a user's own directory."""
    workdir = tmp_path_factory.mktemp("userdir")
    (workdir / "userlayers.py").write_text(USER_LAYER)
    pid_file = workdir / "pids.txt"
    configs = {
        "probe": cheap("Probe", threads=1, options={"pid_file": str(pid_file)}),
        "chatty": cheap("Chatty"),
        "raiser": cheap("Raiser"),
        "user": cheap("userlayers:UserLayer"),
        "self_killer": cheap("SelfKiller"),
        "exiter": cheap("Exiter"),
        "sleepy": cheap("Sleepy", timeout_s=1.0),
        "hog": cheap("Hog", max_memory_bytes=CAP),
        "capped_probe": cheap("Probe", seq_len=16, max_memory_bytes=CAP, options={"pid_file": str(pid_file)}),
    }
    store = ResultStore(workdir / "out" / "results.jsonl")
    seen: list[tuple[str, int, int]] = []
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.setattr(sys, "stderr", stderr)
        summary = run_configs(list(configs.values()), store, run_id="mixed",
                              on_result=lambda record, done, total: seen.append((record.key, done, total)))
    records = {record.key: record for record in store.read().records}
    by_name = {name: records[key_of(config)] for name, config in configs.items()}
    return {"configs": configs, "records": by_name, "summary": summary, "store": store, "seen": seen,
            "pids": pids_in(pid_file), "stderr": stderr.getvalue()}


def test_every_configuration_gets_a_record_with_its_status(mixed_run):
    statuses = {name: record.status for name, record in mixed_run["records"].items()}
    assert statuses == {"probe": "ok", "chatty": "ok", "raiser": "error", "user": "ok", "self_killer": "oom",
                        "exiter": "error", "sleepy": "timeout", "hog": "oom", "capped_probe": "ok"}
    assert mixed_run["summary"].counts == {"ok": 4, "oom": 2, "error": 2, "timeout": 1, "skipped": 0}
    assert mixed_run["summary"].written == 9


def test_records_are_stored_in_the_pass_order_with_run_and_environment_ids(mixed_run):
    store, summary = mixed_run["store"], mixed_run["summary"]
    contents = store.read()
    assert contents.problems == []
    assert list(contents.environments) == [summary.env_id]
    in_order = [key_of(c) for c in pass_order(list(mixed_run["configs"].values()), 0, seed=0)]
    assert [r.key for r in contents.records] == in_order != [key_of(c) for c in mixed_run["configs"].values()]
    assert {(r.run_id, r.env_id) for r in contents.records} == {("mixed", summary.env_id)}
    assert [(done, total) for _, done, total in mixed_run["seen"]] == [(i, 9) for i in range(1, 10)]
    assert all(r.timestamp and r.duration_s is not None for r in contents.records)


def test_ok_records_carry_measurements(mixed_run):
    probe = mixed_run["records"]["probe"]
    assert probe.summary is not None and probe.summary.median > 0
    assert probe.flops.analytic == 2 * 1 * 8 * 16 ** 2
    assert probe.memory.peak_bytes is not None


def test_a_raising_model_is_an_error_with_the_traceback_tail(mixed_run):
    error = mixed_run["records"]["raiser"].error
    assert error.splitlines()[-1] == f"ValueError: {Raiser.MESSAGE}"
    assert "failing_models.py" in error
    assert len(error.splitlines()) <= 20


def test_a_worker_killed_by_sigkill_is_recorded_as_out_of_memory(mixed_run):
    assert mixed_run["records"]["self_killer"].extra["exitcode"] == -signal.SIGKILL
    assert "SIGKILL" in mixed_run["records"]["self_killer"].error
    assert "OOM killer" in mixed_run["records"]["self_killer"].error


def test_a_worker_that_exits_is_an_error_with_its_exit_code_and_stderr_tail(mixed_run):
    error = mixed_run["records"]["exiter"].error
    assert mixed_run["records"]["exiter"].extra["exitcode"] == 3
    assert "exited with code 3" in error
    assert "exiter: leaving with code 3" in error


def test_a_configuration_past_its_timeout_is_killed_and_recorded_as_timeout(mixed_run):
    record = mixed_run["records"]["sleepy"]
    assert "timeout_s=1" in record.error
    assert 1.0 <= record.duration_s < 30


def test_an_allocation_beyond_the_memory_cap_is_oom_and_the_capped_run_goes_on(mixed_run):
    hog = mixed_run["records"]["hog"]
    assert "can't allocate memory" in hog.error
    assert f"worker memory cap {CAP} bytes" in hog.error
    assert mixed_run["records"]["capped_probe"].status == "ok"


def test_model_output_on_stdout_does_not_disturb_the_protocol_and_reaches_the_runners_stderr(mixed_run):
    assert mixed_run["records"]["chatty"].status == "ok"
    for text in ("chatty: print to stdout", "chatty: sys.stdout.write {not json", "chatty: raw fd 1"):
        assert text in mixed_run["stderr"]


def test_a_users_module_in_the_working_directory_is_importable_by_the_worker(mixed_run):
    assert mixed_run["records"]["user"].status == "ok"


def test_a_worker_is_reused_until_a_failure_or_a_cap_change(mixed_run):
    records = mixed_run["store"].read().records  # in the order they ran
    assert len(records) == 9
    for before, after in itertools.pairwise(records):
        reused = before.status == "ok" and before.config.max_memory_bytes == after.config.max_memory_bytes
        same = before.extra.get("worker_pid") == after.extra.get("worker_pid")
        assert same == reused, (before.config.model, before.status, after.config.model)
    pid = {name: record.extra.get("worker_pid") for name, record in mixed_run["records"].items()}
    assert set(mixed_run["pids"]) == {pid["probe"], pid["capped_probe"]}
    assert os.getpid() not in mixed_run["pids"]


def test_a_reused_worker_goes_back_to_the_default_thread_count(mixed_run):
    threads = {name: record.timing.threads if record.timing else None for name, record in mixed_run["records"].items()}
    if threads["user"] == 1:
        pytest.skip("torch's default is one thread on this machine")
    assert threads["probe"] == 1
    assert threads["chatty"] == threads["user"]


def test_fresh_worker_per_config_uses_a_new_process_each_time(tmp_path):
    pid_file = tmp_path / "pids.txt"
    configs = [cheap("Probe", seq_len=n, options={"pid_file": str(pid_file)}) for n in (8, 16)]
    summary = run_configs(configs, ResultStore(tmp_path / "r.jsonl"), run_id="fresh",
                          fresh_worker_per_config=True)
    assert summary.counts["ok"] == 2
    assert len(set(pids_in(pid_file))) == 2


@pytest.mark.parametrize(("python", "message"), [
    ("/nonexistent/python3", "cannot start the benchmark worker"), ("/bin/false", "did not start"),
])
def test_a_worker_that_cannot_start_stops_the_run_before_anything_is_written(tmp_path, python, message):
    store = ResultStore(tmp_path / "r.jsonl")
    with pytest.raises(RunnerError, match=message):
        run_configs([cheap("Probe")], store, run_id="broken", python=python)
    assert store.read().records == [] and store.read().environments == {}


def test_an_existing_results_file_needs_resume(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl")
    store.append_environment({"cpu_model": "x"})
    store.append(Record(config=cheap("Probe"), status="error", error="x"))
    before = store.path.read_bytes()
    with pytest.raises(RunnerError, match="already holds 1 results; pass --resume"):
        run_configs([cheap("Probe")], store, run_id="again")
    assert store.path.read_bytes() == before


def test_resume_after_sigkill_runs_each_missing_configuration_exactly_once(tmp_path):
    configs = [cheap("Probe", seq_len=n, options={"delay_s": 0.1}) for n in range(8, 14)]
    path = tmp_path / "results.jsonl"
    marker = uuid.uuid4().hex
    script = ("import json, sys\n"
              "from bench.config import BenchConfig\n"
              "from bench.run.session import run_configs\n"
              "from bench.results.store import ResultStore\n"
              "configs = [BenchConfig.from_dict(c) for c in json.loads(sys.argv[2])]\n"
              "run_configs(configs, ResultStore(sys.argv[1]), run_id='killed')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ATTNBENCH_TEST_MARKER": marker}
    arguments = [str(path), json.dumps([c.to_dict() for c in configs])]
    child = subprocess.Popen([sys.executable, "-c", script, *arguments], env=env, start_new_session=True,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(ResultStore(path).read().records) < 2:
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "the first run produced no results in 120 s"
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    done_before = {r.key for r in ResultStore(path).read().records}
    assert 2 <= len(done_before) < len(configs), "the run finished before it was killed; make configs slower"
    assert wait_until_no_process_has(marker), "the killed runner's worker is still alive"

    summary = run_configs(configs, ResultStore(path), run_id="resumed", resume=True)
    keys = [row["key"] for row in result_lines(path)]
    assert sorted(keys) == sorted(c.digest() for c in configs)
    assert {k.config for k in summary.skipped_done} == done_before
    assert summary.written == len(configs) - len(done_before) == summary.counts["ok"]
    contents = ResultStore(path).read()
    assert contents.problems == [] and len(contents.environments) == 1
    assert {r.run_id for r in contents.records if r.key in done_before} == {"killed"}

    again = run_configs(configs, ResultStore(path), run_id="noop", resume=True)
    assert again.written == 0 and len(again.skipped_done) == len(configs)
    assert len(result_lines(path)) == len(configs)


def wait_until_no_process_has(marker: str, timeout_s: float = 10.0) -> bool:
    """Whether every process whose environment holds `marker` is gone within `timeout_s`."""
    needle = f"ATTNBENCH_TEST_MARKER={marker}".encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and needle in (entry / "environ").read_bytes():
                    alive.append(entry.name)
            except OSError:
                continue
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_kills_the_worker_and_leaves_the_file_consistent(tmp_path):
    pid_file = tmp_path / "pids.txt"
    configs = [cheap("Probe", options={"pid_file": str(pid_file)}), cheap("Sleepy", timeout_s=120)]
    store = ResultStore(tmp_path / "r.jsonl")
    seed = next(s for s in range(100) if pass_order(configs, 0, s)[0].model == configs[0].model)  # Probe first

    def interrupt_soon(record, done, total):
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

    started = time.monotonic()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (xdist workers differ)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_configs(configs, store, run_id="interrupted", seed=seed, on_result=interrupt_soon, probe=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 60
    contents = store.read()
    assert [r.status for r in contents.records] == ["ok"]
    assert contents.problems == []
    (worker_pid,) = pids_in(pid_file)
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_out_of_memory_is_oom_and_the_next_cuda_configuration_runs(tmp_path):
    total = torch.cuda.get_device_properties(0).total_memory
    configs = [cheap("DeviceHog", device="cuda", options={"n_bytes": 2 * total}),
               cheap("Probe", device="cuda")]
    run_configs(configs, ResultStore(tmp_path / "r.jsonl"), run_id="cuda")
    records = ResultStore(tmp_path / "r.jsonl").read().records
    assert [r.status for r in records] == ["oom", "ok"]
    assert "out of memory" in records[0].error.lower()
    assert records[1].memory.cuda_peak_allocated_bytes is not None


def test_make_run_id_sorts_by_time_and_is_unique():
    ids = [make_run_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(run_id.split("-")) == 3 for run_id in ids)


def test_a_budget_skips_configurations_predicted_not_to_fit_without_running_them(tmp_path):
    from bench.run.budget import BudgetPredictor

    series = [cheap("Probe", seq_len=n, options={"pid_file": str(tmp_path / "pids.txt")}) for n in (8, 16, 32)]
    store = ResultStore(tmp_path / "results.jsonl")
    summary = run_configs(series, store, run_id="budget", budget=BudgetPredictor(max_call_s=1e-12))
    records = {r.config.seq_len: r for r in store.read().records}
    assert records[8].status == "ok"
    assert records[16].status == "skipped" and "exceeds the budget" in records[16].prediction.reason
    assert records[16].prediction.time_s > 0 and records[16].summary is None
    assert records[32].status == "skipped" and "seq_len 16" in records[32].prediction.reason
    assert summary.counts["skipped"] == 2
    assert len(pids_in(tmp_path / "pids.txt")) == 1


def key_of(config: BenchConfig) -> ConfigKey:
    return ConfigKey.from_dict(config.to_dict())


class ListExecutor(Executor):
    """A stand-in executor that 'measures' by making ok records in process, with two slots."""

    name = "test-list"
    slots = 2

    def __init__(self) -> None:
        self.queue: list[BenchConfig] = []
        self.submitted: list[int] = []
        self.closed = False

    def submit(self, config: BenchConfig) -> None:
        self.queue.append(config)
        self.submitted.append(config.seq_len)

    def as_completed(self):
        while self.queue:
            config = self.queue.pop()
            yield Completed(Record(config=config, status="ok", timing={"samples_s": [1e-3 * config.seq_len]}),
                            {"cpu_model": "Elsewhere", "cpu_logical_cores": 8})

    def close(self) -> None:
        self.closed = True

    def kill(self) -> None:
        raise AssertionError("not expected")


def test_any_executor_can_run_a_session_and_the_run_line_comes_first(tmp_path):
    executor = ListExecutor()
    configs = [cheap("Probe", seq_len=n) for n in (8, 16, 32)]
    store = ResultStore(tmp_path / "r.jsonl")
    summary = run_configs(configs, store, run_id="listed", executor=executor,
                          run_info=RunInfo("listed", "python run_bench.py run x", {"name": "x"}))
    assert summary.counts["ok"] == 3 and executor.closed
    assert executor.submitted == [c.seq_len for c in pass_order(configs, 0, seed=0)]
    assert "could not be measured" in summary.notes[0]  # this executor measures no machine-speed probe
    lines = [json.loads(line) for line in store.path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["run", "environment", "result", "result", "result"]
    assert {r.env_id for r in store.read().records} == {summary.env_id}
    assert store.run_info().command == "python run_bench.py run x"


def test_resuming_a_file_from_before_run_lines_keeps_its_original_command_first(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl")
    store.append(Record(config=cheap("Probe", seq_len=8), status="error", error="x"))
    (tmp_path / "run_info.json").write_text(json.dumps({"run_id": "old", "command": "python run_bench.py run x"}))
    run_configs([cheap("Probe", seq_len=8)], store, run_id="again", resume=True, executor=ListExecutor(),
                run_info=RunInfo("again", "python run_bench.py run --resume x", None))
    assert [run.command for run in store.read().runs] == ["python run_bench.py run x",
                                                          "python run_bench.py run --resume x"]


def test_replicated_passes_time_every_ok_configuration_again_in_a_fresh_order(tmp_path):
    configs = [cheap("Probe", seq_len=n) for n in (8, 12, 16, 24)] + [cheap("Raiser")]
    path = tmp_path / "r.jsonl"
    first = run_configs(configs, ResultStore(path), run_id="one", passes=1, seed=5)
    assert first.written == 5
    seen = []
    summary = run_configs(configs, ResultStore(path), run_id="three", passes=3, seed=5, resume=True,
                          on_result=lambda record, done, total: seen.append((done, total)))
    assert seen == [(i, 8) for i in range(1, 9)]  # the progress total counts what this call will write
    assert summary.written == 8 and summary.counts == {"ok": 8, "oom": 0, "error": 0, "timeout": 0, "skipped": 0}
    contents = ResultStore(path).read()
    by_pass = {}
    for record in contents.records:
        by_pass.setdefault(record.config.pass_index, []).append(record)
    assert sorted(by_pass) == [0, 1, 2]
    assert [r.status for r in by_pass[0]].count("error") == 1 and len(by_pass[1]) == len(by_pass[2]) == 4
    for index in (1, 2):
        assert [r.key for r in by_pass[index]] == [key_of(c) for c in pass_order(configs[:4], index, seed=5)]
        for record in by_pass[index]:
            assert record.run_id == "three" and record.summary.median > 0
            assert record.timing.cold_s is None and record.memory is None and record.flops is None
    assert all(r.timing.cold_s is not None and r.memory is not None for r in by_pass[0] if r.status == "ok")
    assert [k.index for k in summary.skipped_done] == [0] * 5
    # one probe before each pass: pass 0 by the first call, passes 1 and 2 by the resumed one
    assert [(p["run_id"], p["pass"]) for p in contents.probes] == [("one", 0), ("three", 1), ("three", 2)]
    assert all(p["d_model"] == 16 and p["flops_per_s"] > 0 for p in contents.probes)


def test_a_flop_count_mismatch_is_stored_not_printed_as_a_python_warning(tmp_path, monkeypatch):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    store = ResultStore(tmp_path / "r.jsonl")
    run_configs([cheap("tests.fixtures.toy_models:ToyMisreported")], store, run_id="flops", probe=False)
    (record,) = store.read().records
    assert record.status == "ok" and record.flops.agree is False
    assert "FlopMismatchWarning" not in stderr.getvalue()
