"""The Slurm executor: configurations submitted as submitit job arrays, one array task per configuration.

Each array task measures its configuration in a fresh isolated worker subprocess (as the local
executor does) on the node Slurm gave it, and writes the outcome as a JSON shard,
`<folder>/shards/<config digest>.json`, on the shared folder (atomically: a shard is whole or absent).
The driver (this process) polls the jobs, reads each finished task's shard and hands the record to the
session, which stays the only writer of results.jsonl: one record per configuration and pass, the
lock and torn-line repair as for a local run. No result is ever read back through pickle: submitit
pickles only the task it sends, and what comes back is the shard's JSON.

Failures: what goes wrong inside a configuration is its record. A task that ends without a shard is
recorded from Slurm's state: TIMEOUT -> timeout, OUT_OF_MEMORY -> oom; NODE_FAIL, PREEMPTED and a
crashed task are submitted again up to `retries` times, then recorded as error with the log's tail.

Resume: shards outlive the driver. When `--resume` asks for a configuration whose shard is already
there (its task finished after the driver was killed), the shard is used and nothing is submitted;
a configuration whose job failed or timed out has no shard and is submitted again.

`cluster` is submitit's: `slurm` (sbatch), `local` (subprocesses on this machine) or `debug` (in this
process, one at a time).
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.config import BenchConfig
from bench.config.executor_settings import ExecutorSettings
from bench.results.record import Placement, Record
from bench.run.executors import Completed, Executor, ExecutorUnavailable, RunContext, import_extra, register_executor
from bench.run.executors.local import measure_isolated
from bench.run.placement import DeviceSlot
from bench.run.process import worker_environment

# Slurm states of a task that ended without a shard, and what they mean for its configuration.
FAILED_STATES = {"TIMEOUT": "timeout", "OUT_OF_MEMORY": "oom"}
RETRIED_STATES = ("NODE_FAIL", "PREEMPTED", "FAILED", "BOOT_FAIL", "INTERRUPTED", "CANCELLED")


def measure_to_shard(config: dict, shard: str, placement: str, pythonpath: str) -> None:
    """Runs as one array task: measure `config` in a fresh worker; write the outcome to `shard` as JSON."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") or "local"
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    slot = DeviceSlot(f"slurm:{job}_{task}" if task else f"slurm:{job}", {"PYTHONPATH": pythonpath})
    try:
        payload = measure_isolated(config, slot, "slurm", placement)
    except BaseException as exc:  # a worker that cannot start: the shard says so, nothing is raised
        payload = {"error": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]}
    tmp = Path(f"{shard}.tmp")
    tmp.write_text(json.dumps(payload, allow_nan=False))
    os.replace(tmp, shard)


@register_executor
class SlurmExecutor(Executor):
    """Configurations as submitit array tasks writing JSON shards that the driver merges (module docstring)."""

    name = "slurm"

    def __init__(self, *, folder: str | Path = "slurm", cluster: str = "slurm", placement: str = "exclusive",
                 retries: int = 2, partition: str | None = None, time_min: int = 60, gpus_per_task: int = 0,
                 cpus_per_task: int | None = None, array_parallelism: int = 16, exclusive: bool | None = None,
                 poll_s: float | None = None, task: Callable[[dict, str, str, str], None] = measure_to_shard) -> None:
        submitit = import_extra("submitit", "slurm", "slurm")
        self.folder, self.cluster, self.placement, self.retries = Path(folder), cluster, placement, retries
        self.shards = self.folder / "shards"
        self.shards.mkdir(parents=True, exist_ok=True)
        self.task = task
        self.pythonpath = worker_environment()["PYTHONPATH"]
        self.poll_s = poll_s if poll_s is not None else (10.0 if cluster == "slurm" else 0.5)
        self.slots = 1 if cluster == "debug" else array_parallelism
        try:
            self.executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=cluster)
        except RuntimeError as exc:  # no srun here: not a Slurm machine
            raise ExecutorUnavailable(f"--slurm-cluster {cluster}: {exc} Submit from a Slurm login node, or try "
                                      f"the sweep here with --slurm-cluster local") from exc
        parameters: dict = {"timeout_min": time_min, "gpus_per_node": gpus_per_task, "nodes": 1,
                            "tasks_per_node": 1, "slurm_array_parallelism": array_parallelism}
        if cpus_per_task is not None:
            parameters["cpus_per_task"] = cpus_per_task
        if cluster == "slurm":
            if partition is not None:
                parameters["slurm_partition"] = partition
            parameters["slurm_exclusive"] = placement == "exclusive" if exclusive is None else exclusive
        self.executor.update_parameters(**parameters)
        self._queue: deque[BenchConfig] = deque()
        self._running: list[tuple[object, BenchConfig, list[str]]] = []
        self._ready: deque[Completed] = deque()
        self.submitted = 0

    @classmethod
    def from_settings(cls, settings: ExecutorSettings, context: RunContext) -> SlurmExecutor:
        gpus = settings.slurm_gpus_per_task
        if gpus is None:
            gpus = 1 if context.on_cuda else 0
        folder = settings.slurm_folder or context.run_dir / "slurm"
        return cls(folder=folder, cluster=settings.slurm_cluster, placement=settings.placement,
                   retries=settings.retries, partition=settings.slurm_partition, time_min=settings.slurm_time_min,
                   gpus_per_task=gpus, cpus_per_task=settings.slurm_cpus_per_task,
                   array_parallelism=settings.slurm_array_parallelism, exclusive=settings.slurm_exclusive)

    def describe(self) -> str:
        return (f"slurm (submitit cluster {self.cluster}), placement {self.placement}: up to {self.slots} array "
                f"tasks at once; logs and shards in {self.folder}")

    def shard(self, config: BenchConfig) -> Path:
        return self.shards / f"{config.digest()}.json"

    def submit(self, config: BenchConfig) -> None:
        """Queue `config`, or take its outcome from a shard an earlier driver's job already wrote."""
        completed = self._read_shard(config, []) if self.shard(config).is_file() else None
        if completed is not None:
            self._ready.append(completed)
        else:
            self._queue.append(config)

    def flush(self) -> None:
        """Submit every queued configuration as one job array."""
        batch = [(config, []) for config in self._queue]
        self._queue.clear()
        self._launch(batch)

    def _launch(self, batch: list[tuple[BenchConfig, list[str]]]) -> None:
        if not batch:
            return
        for config, _ in batch:
            self.shard(config).unlink(missing_ok=True)
        jobs = self.executor.map_array(self.task, [c.to_dict() for c, _ in batch],
                                       [str(self.shard(c)) for c, _ in batch], [self.placement] * len(batch),
                                       [self.pythonpath] * len(batch))
        self.submitted += len(jobs)
        self._running += [(job, config, retried) for job, (config, retried) in zip(jobs, batch, strict=True)]

    def as_completed(self) -> Iterator[Completed]:
        while self._ready or self._queue or self._running:
            if self._ready:
                yield self._ready.popleft()
                continue
            self.flush()
            finished = [entry for entry in self._running if self._done(entry[0])]
            if not finished:
                time.sleep(self.poll_s)
                continue
            for entry in finished:
                self._running.remove(entry)
                job, config, retried = entry
                completed = self._read_shard(config, retried) or self._without_shard(job, config, retried)
                if completed is not None:
                    self._ready.append(completed)

    def _done(self, job) -> bool:
        if self.cluster == "debug":
            try:
                job.result()  # runs the task here, now; it writes its shard and returns None
            except Exception:  # noqa: BLE001 - the missing shard is reported in _without_shard
                pass
            return True
        return job.done()

    def _read_shard(self, config: BenchConfig, retried: list[str]) -> Completed | None:
        try:
            payload = json.loads(self.shard(config).read_text())
        except (OSError, ValueError):
            return None
        if "record" not in payload:
            return self._failed(config, "error", f"the array task could not measure: {payload.get('error')}",
                                retried)
        record = Record.from_json(payload["record"])
        if record.placement is not None:
            record.placement = Placement(**{**record.placement.to_json(), "attempts": len(retried) + 1,
                                            "retried": retried})
        return Completed(record, payload.get("environment"))

    def _without_shard(self, job, config: BenchConfig, retried: list[str]) -> Completed | None:
        """A task that ended and wrote no shard: recorded from its Slurm state, or submitted again."""
        state = str(getattr(job, "state", "UNKNOWN")).split()[0].upper()
        log = _tail(job)
        reason = f"job {job.job_id} ended {state} without a result{': ' + log if log else ''}"
        if state in FAILED_STATES:
            return self._failed(config, FAILED_STATES[state], reason, retried)
        if len(retried) < self.retries and (state in RETRIED_STATES or state in ("UNKNOWN", "FINISHED", "DONE")):
            self._launch([(config, [*retried, reason])])
            return None
        return self._failed(config, "error", f"{reason} (after {len(retried) + 1} attempts)", retried)

    def _failed(self, config: BenchConfig, status: str, error: str, retried: list[str]) -> Completed:
        where = Placement(executor=self.name, placement=self.placement, host=socket.gethostname(),
                          attempts=len(retried) + 1, retried=retried)
        return Completed(Record(config=config, status=status, error=error, duration_s=0.0, placement=where), None)

    def close(self) -> None:
        """Nothing to release: finished jobs have ended."""

    def kill(self) -> None:
        """Cancel every job still running; their configurations have no record and --resume runs them."""
        for job, _, _ in self._running:
            try:
                job.cancel(check=False)
            except Exception:  # noqa: BLE001 - scancel failing leaves the job to its time limit
                pass
        self._running.clear()


def _tail(job, lines: int = 5) -> str:
    """The last lines of a job's stderr log, if it wrote one."""
    try:
        text = job.stderr() or ""
    except Exception:  # noqa: BLE001 - no log yet, or a log folder that is not readable
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
