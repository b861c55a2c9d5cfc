"""The Ray executor: each configuration is a Ray Core task that measures it in a fresh isolated worker.

Ray places each task on a node with a free GPU (`num_gpus`, 1 per configuration under placement
exclusive, 1/per_device under packed; Ray sets the task's CUDA_VISIBLE_DEVICES) or, for CPU
configurations, free CPUs (a whole node under exclusive). The task never measures in Ray's own worker
process, which Ray reuses between tasks (its threads, allocator and CUDA state would leak from one
configuration into the next): it starts today's `python -m bench.run.worker` subprocess for the one
configuration (bench.run.executors.local.DeviceWorker) and returns the record as JSON text.

Failures: what goes wrong inside a configuration (oom, error, timeout) comes back as its record, as
locally. A task that dies itself (its Ray worker crashed, its node was lost) is submitted again, at
most `retries` times; the record's Placement lists the earlier failures. A task Ray's memory monitor
kills is recorded as oom. The driver (this process) stays the only writer of results.jsonl, so resume,
the lock and torn-line repair work as for a local run.

`address` connects to an existing cluster (`auto`, `ray://head:10001`); without one a local Ray
instance is started with this machine's resources and shut down at the end. An already initialised
Ray (`ray.init` called by the caller) is used as it is.
"""

from __future__ import annotations

import json
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from bench.config import BenchConfig
from bench.config.executor_settings import ExecutorSettings
from bench.results.record import Placement, Record
from bench.run.executors import Completed, Executor, ExecutorUnavailable, RunContext, import_extra, register_executor
from bench.run.executors.local import measure_isolated
from bench.run.placement import DeviceSlot, per_device_count
from bench.run.process import worker_environment


def measure_in_task(config: dict, placement: str, pythonpath: str) -> str:
    """Runs inside a Ray task: measure `config` in a fresh worker subprocess; the record and the
    worker's environment fingerprint as JSON text."""
    import ray

    gpus = ",".join(str(g) for g in ray.get_gpu_ids())
    slot = DeviceSlot(f"ray-gpu:{gpus}" if gpus else "ray-cpu", {"PYTHONPATH": pythonpath})
    return json.dumps(measure_isolated(config, slot, "ray", placement))


@register_executor
class RayExecutor(Executor):
    """Configurations as Ray tasks, each measured in its own fresh worker subprocess (module docstring)."""

    name = "ray"

    def __init__(self, *, address: str | None = None, placement: str = "exclusive", per_device: int | None = None,
                 retries: int = 2, gpus_per_task: float | None = None,
                 task: Callable[[dict, str, str], str] = measure_in_task) -> None:
        """`gpus_per_task` overrides the GPUs each task asks for (default: 1/per_device for CUDA
        configurations, none for CPU ones); `task` is the function Ray runs (tests swap in crashing ones).
        Every task measures in a fresh worker with the Python of the node it runs on."""
        self.ray = import_extra("ray", "ray", "ray")
        self.owns_ray = not self.ray.is_initialized()
        if self.owns_ray:  # a local instance binds the loopback interface only
            local = {} if address else {"_node_ip_address": "127.0.0.1"}
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
        self.placement, self.retries = placement, retries
        self.per_device = per_device_count(placement, per_device)
        self.gpus_per_task = gpus_per_task
        self.remote = self.ray.remote(max_retries=0)(task)
        self.pythonpath = worker_environment()["PYTHONPATH"]
        resources = self.ray.cluster_resources()
        self.cluster_gpus, self.cluster_cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
        self.nodes = max(1, sum(1 for node in self.ray.nodes() if node.get("Alive")))
        self.slots = self._slots()
        self._queue: deque[BenchConfig] = deque()
        self._running: dict = {}

    @classmethod
    def from_settings(cls, settings: ExecutorSettings, context: RunContext) -> RayExecutor:
        return cls(address=settings.ray_address, placement=settings.placement,
                   per_device=settings.per_device, retries=settings.retries)

    def _slots(self) -> int:
        """Tasks that can run at once: GPUs over the GPUs one task takes, else one per node (exclusive)
        or per CPU (packed)."""
        gpus = self.gpus_per_task if self.gpus_per_task is not None else (1 / self.per_device)
        if self.cluster_gpus and gpus:
            return max(1, int(self.cluster_gpus / gpus))
        return self.nodes if self.placement == "exclusive" else max(1, int(self.cluster_cpus))

    def _resources(self, config: BenchConfig) -> dict:
        gpus = self.gpus_per_task
        if gpus is None:
            gpus = 1 / self.per_device if config.device == "cuda" else 0
        if gpus:
            return {"num_gpus": gpus, "num_cpus": 1}
        whole_node = self.placement == "exclusive"
        cpus = max(1, int(self.cluster_cpus / self.nodes)) if whole_node else (config.threads or 1)
        return {"num_gpus": 0, "num_cpus": cpus}

    def describe(self) -> str:
        return (f"ray, placement {self.placement}: up to {self.slots} tasks at once on {self.nodes} node(s) "
                f"({self.cluster_gpus:g} GPUs, {self.cluster_cpus:g} CPUs)")

    def check(self, configs: Sequence[BenchConfig]) -> None:
        if any(c.device == "cuda" for c in configs) and not self.cluster_gpus:
            raise ExecutorUnavailable("the sweep runs on CUDA and the Ray cluster has no GPUs; use --device cpu "
                                      "or connect to a cluster with GPUs (--ray-address)")

    def submit(self, config: BenchConfig) -> None:
        self._queue.append(config)

    def _launch(self, config: BenchConfig, retried: list[str]) -> None:
        ref = self.remote.options(**self._resources(config)).remote(config.to_dict(), self.placement,
                                                                    self.pythonpath)
        self._running[ref] = (config, retried)

    def as_completed(self) -> Iterator[Completed]:
        while self._queue or self._running:
            while self._queue:
                self._launch(self._queue.popleft(), [])
            (ref,), _ = self.ray.wait(list(self._running), num_returns=1)
            config, retried = self._running.pop(ref)
            completed = self._outcome(ref, config, retried)
            if completed is not None:
                yield completed

    def _outcome(self, ref, config: BenchConfig, retried: list[str]) -> Completed | None:
        """The task's record; None when the task died and was submitted again."""
        errors = self.ray.exceptions
        try:
            payload = json.loads(self.ray.get(ref))
        except errors.OutOfMemoryError as exc:
            return self._failed(config, "oom", f"Ray's memory monitor killed the task: {_first_line(exc)}", retried)
        except errors.RayTaskError as exc:  # our own task code raised: a bug, not a crash to retry
            return self._failed(config, "error", f"the Ray task raised: {exc}", retried)
        except errors.RayError as exc:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            if len(retried) < self.retries:
                self._launch(config, [*retried, reason])
                return None
            return self._failed(config, "error", f"the Ray task failed {len(retried) + 1} times; last: {reason}",
                                retried)
        record = Record.from_json(payload["record"])
        if record.placement is not None:
            record.placement = replace(record.placement, attempts=len(retried) + 1, retried=retried)
        return Completed(record, payload.get("environment"))

    def _failed(self, config: BenchConfig, status: str, error: str, retried: list[str]) -> Completed:
        """A record for a task that returned none; `retried` are the failures of the attempts before."""
        where = Placement(executor=self.name, placement=self.placement, host=socket.gethostname(),
                          attempts=len(retried) + 1, retried=retried)
        return Completed(Record(config=config, status=status, error=error, duration_s=0.0, placement=where,
                                extra={"driver_pid": os.getpid()}), None)

    def close(self) -> None:
        if self.owns_ray and self.ray.is_initialized():
            self.ray.shutdown()

    def kill(self) -> None:
        for ref in list(self._running):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - a task that already finished cannot be cancelled; nothing to do
                pass
        self._running.clear()
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
