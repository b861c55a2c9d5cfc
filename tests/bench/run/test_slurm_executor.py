"""The Slurm executor through submitit's debug (in-process) and local (subprocess) clusters, and the
sbatch script it submits to a real Slurm (a stand-in sbatch on PATH records it)."""

from __future__ import annotations

import os
import stat

import pytest

from bench.results.store import ResultStore
from bench.run.executors import make_executor
from bench.run.session import run_configs
from tests.bench.run.test_session import cheap
from tests.fixtures import slurm_tasks

pytest.importorskip("submitit")


def _run(tmp_path, name, configs, resume=False, **options):
    store = ResultStore(tmp_path / f"{name}.jsonl")
    executor = make_executor("slurm", folder=tmp_path / "slurm", **options)
    summary = run_configs(configs, store, run_id=name, executor=executor, probe=False, resume=resume)
    return executor, summary, store.read().records


def test_the_debug_cluster_runs_every_configuration_in_process_and_records_where(tmp_path):
    configs = [cheap("Probe", seq_len=8), cheap("Raiser")]
    executor, summary, records = _run(tmp_path, "debug", configs, cluster="debug")
    assert {r.config.model.rsplit(":", 1)[1]: r.status for r in records} == {"Probe": "ok", "Raiser": "error"}
    assert {r.placement.executor for r in records} == {"slurm"} and summary.env_id
    assert all((tmp_path / "slurm" / "shards" / f"{c.digest()}.json").is_file() for c in configs)


def test_the_local_cluster_runs_array_tasks_as_subprocesses(tmp_path):
    configs = [cheap("Probe", seq_len=n) for n in (8, 16)]
    executor, summary, records = _run(tmp_path, "local", configs, cluster="local", array_parallelism=2)
    assert summary.counts["ok"] == 2 and executor.submitted == 2
    assert all(r.placement.slot.startswith("slurm:") for r in records)


def test_a_task_that_dies_without_a_shard_is_submitted_again_and_the_retry_recorded(tmp_path):
    executor, _, records = _run(tmp_path, "retry", [cheap("Probe", seq_len=8)], cluster="local",
                                task=slurm_tasks.crash_once)
    (record,) = records
    assert record.status == "ok" and record.placement.attempts == 2 and executor.submitted == 2
    assert "without a result" in record.placement.retried[0]


def test_resume_takes_shards_a_killed_driver_left_and_submits_only_the_rest(tmp_path):
    done, todo = cheap("Probe", seq_len=8), cheap("Probe", seq_len=16)
    _run(tmp_path, "first", [done], cluster="debug")  # its task finished; say the driver died before storing
    executor, _, records = _run(tmp_path, "second", [done, todo], cluster="debug")
    assert executor.submitted == 1  # only `todo`
    assert {r.config.seq_len: r.status for r in records} == {8: "ok", 16: "ok"}


def _fake_slurm(bin_dir, capture):
    """sbatch copies the script it is given to `capture` and answers with a job id; srun (whose presence
    tells submitit it is on a Slurm machine), scancel and sacct do nothing."""
    bin_dir.mkdir()
    scripts = {"sbatch": f'#!/bin/sh\ncp "$1" {capture}\necho "Submitted batch job 4242"\n',
               "scancel": "#!/bin/sh\nexit 0\n", "sacct": "#!/bin/sh\nexit 0\n", "srun": "#!/bin/sh\nexit 0\n"}
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_sbatch_script_asks_for_an_array_with_the_parallelism_gpus_and_exclusive_nodes(tmp_path, monkeypatch):
    capture = tmp_path / "submitted.sh"
    _fake_slurm(tmp_path / "bin", capture)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    executor = make_executor("slurm", folder=tmp_path / "slurm", cluster="slurm", partition="gpu", time_min=30,
                             gpus_per_task=1, array_parallelism=3, cpus_per_task=4)
    for n in (8, 16, 32):
        executor.submit(cheap("Probe", seq_len=n))
    executor.flush()
    script = capture.read_text()
    executor.kill()
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --gpus-per-node=1", "#SBATCH --exclusive",
                 "#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --cpus-per-task=4"):
        assert line in script, line
    assert executor.submitted == 3


def test_slurm_on_a_machine_without_slurm_is_refused_with_the_fix(tmp_path, monkeypatch):
    from bench.run.executors import ExecutorUnavailable

    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    with pytest.raises(ExecutorUnavailable, match="--slurm-cluster local"):
        make_executor("slurm", folder=tmp_path / "slurm", cluster="slurm")
