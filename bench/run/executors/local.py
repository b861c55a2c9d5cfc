"""The local executor: worker processes on this machine, one per device slot, each configuration isolated.

Devices
-------
By default one worker runs at a time. With `devices` (bench.run.placement: `--devices cuda:0,cuda:1` or
`all`) there is one worker per device, given that GPU alone through CUDA_VISIBLE_DEVICES; with placement
`packed`, `per_device` workers share each device. Configurations go to whichever slot is free, and
results come back in the order they finish. Every record's Placement names the executor, the
placement, the host, the slot and the GPU's UUID as the worker saw it.

Isolation policy
----------------
Every configuration is measured in a child process (bench.run.process, bench.run.worker), never in the
session. One long-lived worker runs configurations one after another: reuse does not distort the
numbers, because bench.measure resets the CUDA peak statistics and the kernel's peak-RSS mark
(/proc/self/clear_refs) before each memory pass. The worker is replaced by a fresh one
- after any failure (oom, error, timeout, crash): its state (allocator caches, a wedged CUDA context,
  a half-finished thread) can no longer be trusted;
- when the memory cap changes: `max_memory_bytes` is enforced inside the worker at start-up
  (RLIMIT_DATA), so workers are keyed by their cap. The cap applies to `device="cpu"` configurations
  only; CUDA configurations run in an uncapped worker (their device memory is bounded by the GPU);
- before every configuration when `fresh_worker_per_config=True`;
- around every compiled configuration (`config.compile` other than eager): it runs in a worker that has
  measured nothing else, and the worker exits after it, so its compile is cold (no graphs, kernels or
  caches of another configuration in the process) and leaves nothing behind.

Outcomes
--------
- `ok`: the worker returned a Record.
- `oom`: the measurement raised an out-of-memory error (CUDA OOM, MemoryError, "can't allocate memory",
  including an allocation beyond the cap), or the worker died of SIGKILL, which is what the Linux
  kernel's OOM killer sends (check `dmesg` to tell it from a manual `kill -9`).
- `error`: the measurement raised anything else (`error` holds the last 20 lines of the traceback), or
  the worker died of another signal or exited on its own (the message names the signal or exit code and
  ends with the last lines the worker wrote to stderr), or broke the protocol.
- `timeout`: no reply within `config.timeout_s` seconds of sending the configuration (worker start-up is
  not counted); the worker's process group is killed with SIGKILL.
`extra` notes the worker: `worker_pid`, and for failures `exception` (its type) or `exitcode`.
A worker that cannot start at all (a broken environment, an import error) raises WorkerError: every
configuration would fail alike. The environment fingerprint is taken by the first worker
(`--fingerprint`), in the process that measures, before any memory cap.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence

from bench.config import BenchConfig
from bench.config.executor_settings import ExecutorSettings
from bench.config.units import format_bytes
from bench.results.identity import ProbeSpec
from bench.results.record import Placement, Record
from bench.run.executors import Completed, Executor, ExecutorUnavailable, RunContext, register_executor
from bench.run.placement import CPU, DeviceSlot, check_placement, parse_devices, visible_gpus, worker_slots
from bench.run.process import Worker, WorkerExited, describe_exit
from bench.run.protocol import probe_request, run_request

PROBE_TIMEOUT_S = 60.0


class DeviceWorker:
    """The worker of one device slot: runs configurations one at a time, reused until a failure or cap change
    (the isolation policy above), and stamps each record with where it ran."""

    def __init__(self, python: str = sys.executable, *, fresh_worker_per_config: bool = False,
                 slot: DeviceSlot = CPU, executor: str = "local", placement: str = "exclusive") -> None:
        self.python = python
        self.fresh = fresh_worker_per_config
        self.slot, self.executor, self.placement = slot, executor, placement
        self.worker: Worker | None = None
        self.worker_used = False
        self.fingerprint: dict | None = None
        self.where: Placement | None = None

    def start_for(self, config: BenchConfig) -> Worker:
        """The current worker if it is alive and has the cap `config` needs (and, for a compiled
        configuration, has measured nothing yet), else a new one."""
        if config.compile != "eager" and self.worker_used:
            self.close()
        return self._worker_with(config.max_memory_bytes if config.device == "cpu" else None)

    def _worker_with(self, cap: int | None) -> Worker:
        if self.worker is not None and self.worker.proc.poll() is not None:
            self.kill()
        if self.worker is not None and self.worker.cap != cap:
            self.close()
        if self.worker is None:
            self.worker = Worker(self.python, cap, fingerprint=self.fingerprint is None, env=self.slot.env)
            self.worker_used = False
        self.worker.wait_ready()
        if self.fingerprint is None:
            self.fingerprint = self.worker.fingerprint
        return self.worker

    def footprint(self, cap: int | None) -> int | None:
        """The private memory a worker with this cap uses before measuring anything (its hello says)."""
        return self._worker_with(cap).hello.get("baseline_data_bytes")

    def probe(self, spec: ProbeSpec) -> Completed | None:
        """Measure the probe in the current worker (whatever its cap: the probe is small); None on failure."""
        worker = self._worker_with(self.worker.cap if self.worker is not None else None)
        request = probe_request(spec)
        try:
            worker.send(request)
            reply = worker.receive(time.monotonic() + PROBE_TIMEOUT_S)
        except (WorkerExited, BrokenPipeError, ValueError):
            reply = None
        if reply is None or reply.get("type") != "probe" or reply.get("key") != request["key"]:
            self.kill()
            return None
        return Completed(None, self.fingerprint, probe=reply["probe"])

    def prestart(self, max_memory_bytes: int | None) -> None:
        """Start a worker with that memory cap without waiting for it, so that its imports overlap the
        caller's own start-up (validating a sweep); the first configuration then finds it ready."""
        if self.worker is None:
            self.worker = Worker(self.python, max_memory_bytes, fingerprint=self.fingerprint is None, wait=False,
                                 env=self.slot.env)
            self.worker_used = False

    def run(self, config: BenchConfig) -> Record:
        """Measure `config` in a worker; a failure kills that worker and comes back as a failure Record."""
        worker = self.start_for(config)
        self.worker_used = True
        self.where = self._placement(worker, config)
        request = run_request(config)
        key = request["key"]
        started, clock = time.time(), time.monotonic()
        try:
            worker.send(request)
            reply = worker.receive(clock + config.timeout_s)
        except (WorkerExited, BrokenPipeError):
            returncode = worker.wait_exit()
            status, message = describe_exit(returncode)
            tail = worker.stderr.tail()
            return self._failure(config, status, f"{message}\n{tail}".rstrip(), started, clock,
                                 {"exitcode": returncode, "worker_pid": worker.pid})
        except ValueError as exc:
            return self._failure(config, "error", f"the worker broke the protocol: {exc}", started, clock)
        if reply is None:
            return self._failure(config, "timeout", f"no result within timeout_s={config.timeout_s:g} s; the "
                                 f"worker's process group was killed", started, clock)
        if reply.get("key") != key or reply.get("type") not in ("result", "failure"):
            return self._failure(config, "error", f"the worker broke the protocol: unexpected reply "
                                 f"{json.dumps(reply)[:200]}", started, clock)
        if reply["type"] == "failure":
            return self._failure(config, reply["status"], reply["error"], started, clock,
                                 {"exception": reply.get("exception"), "worker_pid": worker.pid})
        try:
            record = Record.from_json(reply["record"])
        except (KeyError, TypeError, ValueError) as exc:
            return self._failure(config, "error", f"the worker sent an invalid record: {exc}", started, clock)
        record.extra = {**record.extra, "worker_pid": worker.pid}
        record.placement = self.where
        if self.fresh or config.compile != "eager":
            self.close()
        return record

    def close(self) -> None:
        """Let the current worker exit cleanly."""
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.close()

    def kill(self) -> None:
        """Kill the current worker's process group at once."""
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.kill()

    def _failure(self, config: BenchConfig, status: str, error: str, started: float, clock: float,
                 extra: dict | None = None) -> Record:
        self.kill()
        return Record(config=config, status=status, error=error, timestamp=started,
                      duration_s=time.monotonic() - clock, extra=extra or {}, placement=self.where)

    def _placement(self, worker: Worker, config: BenchConfig) -> Placement:
        """Where `config` is about to run; for a CUDA configuration, with the other processes on its GPU."""
        hello = worker.hello
        uuid = hello.get("gpu_uuid")
        others = None
        if config.device == "cuda":  # imported here: bench.measure.environment imports torch
            from bench.measure.environment import gpu_neighbours

            others = gpu_neighbours(uuid, {worker.proc.pid})
        return Placement(executor=self.executor, placement=self.placement, host=hello.get("host"),
                         slot=self.slot.name, device_uuid=uuid, cuda_visible_devices=hello.get("cuda_visible_devices"),
                         others_on_device=others)


def measure_isolated(config: dict, slot: DeviceSlot, executor: str, placement: str) -> dict:
    """Measure one configuration in a fresh worker subprocess started here (what a remote executor's task
    runs): {"record": Record JSON, "environment": the worker's fingerprint}. A worker that cannot start
    raises WorkerError, as locally."""
    worker = DeviceWorker(sys.executable, fresh_worker_per_config=True, slot=slot, executor=executor,
                          placement=placement)
    try:
        record = worker.run(BenchConfig.from_dict(config))
    finally:
        worker.kill()
    return {"record": record.to_json(), "environment": worker.fingerprint}


@register_executor
class LocalExecutor(Executor):
    """Runs configurations in local worker processes: one at a time, or one per device slot at once."""

    name = "local"

    def __init__(self, python: str = sys.executable, *, fresh_worker_per_config: bool = False,
                 devices: Sequence[DeviceSlot] = (CPU,), placement: str = "exclusive",
                 per_device: int | None = None) -> None:
        self.workers = [DeviceWorker(python, fresh_worker_per_config=fresh_worker_per_config, slot=slot,
                                     executor=self.name, placement=placement)
                        for slot in worker_slots(devices, placement, per_device)]
        self.slots = len(self.workers)
        self._queue: deque[BenchConfig] = deque()
        self._free = list(self.workers)
        self._done: queue.SimpleQueue[tuple[DeviceWorker, Record | BaseException]] = queue.SimpleQueue()
        self._inboxes: dict[DeviceWorker, queue.SimpleQueue[BenchConfig | None]] = {}

    @classmethod
    def from_settings(cls, settings: ExecutorSettings, context: RunContext) -> LocalExecutor:
        """`settings.devices` resolved against the GPUs visible here (a PlacementError names a bad one)."""
        devices = [CPU]
        if settings.devices is not None:
            devices = parse_devices(settings.devices, visible_gpus())
        return cls(context.python, fresh_worker_per_config=context.fresh_worker_per_config, devices=devices,
                   placement=settings.placement, per_device=settings.per_device)

    def check(self, configs: Sequence[BenchConfig]) -> None:
        """The placement holds, and no CPU memory cap is below what a worker uses before measuring anything
        (the interpreter and torch, read from a worker started with that cap): every configuration would
        be out of memory, or measured under a cap the process already exceeds."""
        check_placement(configs, [worker.slot for worker in self.workers], self.workers[0].placement)
        for cap in sorted({c.max_memory_bytes for c in configs if c.device == "cpu" and c.max_memory_bytes}):
            footprint = self.workers[0].footprint(cap)
            if footprint is not None and footprint >= cap:
                raise ExecutorUnavailable(
                    f"--max-memory {format_bytes(cap)} is below the worker's own footprint: the interpreter and "
                    f"torch use {format_bytes(footprint)} before measuring anything; give more than that "
                    f"(e.g. {format_bytes(footprint + (1 << 30))})")

    def describe(self) -> str:
        devices = ", ".join(dict.fromkeys(worker.slot.name for worker in self.workers))
        workers = "1 worker" if self.slots == 1 else f"{self.slots} workers at once"
        return f"local, placement {self.workers[0].placement}: {workers} on {devices}"

    @property
    def fingerprint(self) -> dict | None:
        return self.workers[0].fingerprint

    def submit(self, config: BenchConfig) -> None:
        self._queue.append(config)

    def as_completed(self) -> Iterator[Completed]:
        """With one slot, run each configuration here; with several, one thread per busy slot, results
        yielded as they finish (a WorkerError from any slot is raised here)."""
        while self._queue or len(self._free) < self.slots:
            if self.slots == 1:
                worker = self.workers[0]
                yield Completed(worker.run(self._queue.popleft()), worker.fingerprint)
                continue
            while self._queue and self._free:
                self._start(self._free.pop(), self._queue.popleft())
            worker, outcome = self._done.get()
            self._free.append(worker)
            if isinstance(outcome, BaseException):
                raise outcome
            yield Completed(outcome, worker.fingerprint)

    def _start(self, worker: DeviceWorker, config: BenchConfig) -> None:
        """Hand `config` to the slot's thread. Each slot has one long-lived thread that starts its worker
        processes: the kernel's parent-death signal (PR_SET_PDEATHSIG) fires when the *thread* that
        started a worker exits, so a worker must never be started from a short-lived thread."""
        if worker not in self._inboxes:
            inbox: queue.SimpleQueue[BenchConfig | None] = queue.SimpleQueue()
            self._inboxes[worker] = inbox
            threading.Thread(target=self._serve, args=(worker, inbox), name=f"worker-{worker.slot.name}",
                             daemon=True).start()
        self._inboxes[worker].put(config)

    def _serve(self, worker: DeviceWorker, inbox: queue.SimpleQueue) -> None:
        while (config := inbox.get()) is not None:
            try:
                self._done.put((worker, worker.run(config)))
            except BaseException as exc:  # handed to as_completed, which raises it in the session
                self._done.put((worker, exc))

    def probe(self, spec: ProbeSpec) -> Completed | None:
        """The probe measured by the first slot's worker (one device stands for the machine's speed)."""
        return self.workers[0].probe(spec)

    def prestart(self, max_memory_bytes: int | None) -> None:
        """Start every slot's worker without waiting, so their imports overlap the caller's start-up."""
        for worker in self.workers:
            worker.prestart(max_memory_bytes)

    def run(self, config: BenchConfig) -> Record:
        """Measure one configuration in the first slot's worker, here (a convenience for tests and tools)."""
        return self.workers[0].run(config)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self._stop_threads()

    def kill(self) -> None:
        self._stop_threads()
        for worker in self.workers:
            worker.kill()

    def _stop_threads(self) -> None:
        for inbox in self._inboxes.values():
            inbox.put(None)
        self._inboxes.clear()
