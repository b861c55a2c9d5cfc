"""Run configurations in isolated worker processes, record every outcome as it happens, resume after a kill.

Isolation policy
----------------
Every configuration is measured in a child process (`python -m bench.worker`, see bench/worker.py for
its JSON Lines protocol), never in the runner. One long-lived worker runs configurations one after
another: reuse does not distort the numbers, because bench.measure resets the CUDA peak statistics and
the kernel's peak-RSS mark (/proc/self/clear_refs) before each memory pass. The worker is replaced by a
fresh one
- after any failure (oom, error, timeout, crash): its state (allocator caches, a wedged CUDA context,
  a half-finished thread) can no longer be trusted;
- when the memory cap changes: `max_memory_bytes` is enforced inside the worker at start-up
  (RLIMIT_DATA), so workers are keyed by their cap. The cap applies to `device="cpu"` configurations
  only; CUDA configurations run in an uncapped worker (their device memory is bounded by the GPU);
- before every configuration when `fresh_worker_per_config=True`.
Each worker is the leader of its own process group: a timeout or interrupt kills the whole group.

Outcomes
--------
- `ok`: the worker returned a Record.
- `oom`: measure raised an out-of-memory error (CUDA OOM, MemoryError, "can't allocate memory",
  including an allocation beyond the cap), or the worker died of SIGKILL, which is what the Linux
  kernel's OOM killer sends (check `dmesg` to tell it from a manual `kill -9`).
- `error`: measure raised anything else (`error` holds the last 20 lines of the traceback), or the worker
  died of another signal or exited on its own (the message names the signal or exit code and ends
  with the last lines the worker wrote to stderr), or broke the protocol.
- `timeout`: no reply within `config.timeout_s` seconds of sending the configuration (worker start-up is
  not counted); the worker's process group is killed with SIGKILL.
`extra` notes the worker: `worker_pid`, and for failures `exception` (its type) or `exitcode`.
The run then goes on with the next configuration. A worker that cannot start at all (a broken
environment, an import error) stops the run with RunnerError: every configuration would fail alike.

Environment and import path
---------------------------
The environment fingerprint is taken by the first worker (`--fingerprint`), i.e. by the interpreter
given as `python`, in the process that measures, before any memory cap; it is written once to the store
(not repeated for an id already there) and its id is set as `env_id` on every record of the run. The
worker's PYTHONPATH is this repository's root, then the runner's working directory, then any existing
PYTHONPATH, and it runs in the runner's working directory: `models`, `bench`, `tests.*` and a user's
`package.module:ClassName` importable by the runner are importable by the worker too. glibc's malloc
thresholds are fixed in the worker (STEADY_MALLOC below) so repeated CPU allocations behave the same
from run to run. What the worker
writes to stdout or stderr (model prints, warnings) is copied to the runner's stderr.

Durability and interrupts
-------------------------
Each record is appended (bench.storage: one write + fsync) as soon as it is known. The runner holds the
file's lock for the run. KeyboardInterrupt kills the worker's process group and propagates; the file
holds exactly the records finished before it. A runner killed outright takes its worker with it (the
worker has PR_SET_PDEATHSIG); `resume=True` then runs only the configurations whose key is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from bench.budget import BudgetPredictor
from bench.config import BenchConfig
from bench.record import STATUSES, Record
from bench.storage import ResultStore
from bench.worker import PROTOCOL_VERSION, TRACEBACK_LINES, encode

STARTUP_TIMEOUT_S = 300.0
EXIT_GRACE_S = 5.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class RunnerError(RuntimeError):
    """The run cannot start or go on (existing results without resume, a worker that cannot start)."""


class WorkerExited(Exception):
    """The worker closed its reply pipe (it exited or was killed)."""


@dataclass
class RunSummary:
    """What one `run_configs` call did: records written per status, and keys skipped as already done."""

    run_id: str
    env_id: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    written: int = 0
    skipped_done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_run_id() -> str:
    """A run id that sorts by start time and does not collide: `20240131-154502-1a2b3c`."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


# glibc's malloc moves its mmap and trim thresholds as a process frees large blocks, so the same
# tensor allocation may be served from the heap or by fresh, page-faulting mmap depending on history:
# a CPU layer's time was seen to switch between two levels 2-3x apart from one run to the next. Fixed
# thresholds (blocks up to 32 MiB from the heap, which is not trimmed between calls) give every
# configuration the steady state a caching allocator would; the memory pass still calls malloc_trim
# first. A user's own MALLOC_* settings win.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def worker_environment() -> dict[str, str]:
    """The runner's environment with PYTHONPATH = repository root, working directory, existing PYTHONPATH,
    and glibc malloc thresholds fixed (STEADY_MALLOC) unless the user set them."""
    env = {**STEADY_MALLOC, **os.environ}
    entries = [str(REPO_ROOT), os.getcwd(), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(e for e in entries if e))
    return env


def describe_exit(returncode: int | None) -> tuple[str, str]:
    """(status, message) for a worker that died without replying, from its exit status."""
    if returncode is None:
        return "error", "the worker closed its reply pipe but kept running; it was killed"
    if returncode == -signal.SIGKILL:
        return "oom", ("the worker was killed by SIGKILL, which is what the kernel's OOM killer sends "
                       "(see `dmesg`); recorded as out of memory")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return "error", f"the worker died of {name}"
    return "error", f"the worker exited with code {returncode} without replying"


class StderrPump(threading.Thread):
    """Copies a worker's stderr to the runner's, keeping the last lines for failure reports."""

    def __init__(self, pipe: IO[bytes], sink: TextIO) -> None:
        super().__init__(name="worker-stderr", daemon=True)
        self.pipe = pipe
        self.sink: TextIO | None = sink
        self.lines: deque[str] = deque(maxlen=TRACEBACK_LINES)

    def run(self) -> None:
        for raw in iter(self.pipe.readline, b""):
            text = raw.decode(errors="replace")
            self.lines.append(text.rstrip("\n"))
            if self.sink is not None:
                try:
                    self.sink.write(text)
                    self.sink.flush()
                except (OSError, ValueError):
                    self.sink = None
        self.pipe.close()

    def tail(self, wait_s: float = 1.0) -> str:
        """The last TRACEBACK_LINES lines, once the worker's stderr is closed (or after `wait_s`)."""
        self.join(wait_s)
        return "\n".join(self.lines)


class Worker:
    """One `python -m bench.worker` process in its own process group, and the runner's end of its pipes."""

    def __init__(self, python: str, cap: int | None, *, fingerprint: bool, wait: bool = True) -> None:
        """Start the worker; with wait=False return at once and let `wait_ready` collect its hello."""
        self.cap = cap
        command = [python, "-m", "bench.worker", "--parent-pid", str(os.getpid())]
        if cap is not None:
            command += ["--max-memory-bytes", str(cap)]
        if fingerprint:
            command.append("--fingerprint")
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=worker_environment(),
                                         start_new_session=True, close_fds=True)
        except OSError as exc:
            raise RunnerError(f"cannot start the benchmark worker with python={python!r}: {exc}") from exc
        self.stderr = StderrPump(self.proc.stderr, sys.stderr)
        self.stderr.start()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.command = command
        self.pid: int | None = None
        self.fingerprint: dict | None = None
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the worker's ready message (once); a worker that does not start is a RunnerError."""
        if self.pid is not None:
            return
        try:
            ready = self.receive(time.monotonic() + STARTUP_TIMEOUT_S)
        except (WorkerExited, ValueError):
            ready = None
        except BaseException:
            self.kill()
            raise
        if not ready or ready.get("type") != "ready" or ready.get("protocol") != PROTOCOL_VERSION:
            self.kill()
            raise RunnerError(f"the benchmark worker ({' '.join(self.command)}) did not start: "
                              f"{ready or 'no ready message'}\n{self.stderr.tail()}")
        self.pid = ready["pid"]
        self.fingerprint = ready.get("fingerprint")

    def send(self, message: dict) -> None:
        """Write one request line."""
        self.proc.stdin.write((encode(message) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, deadline: float) -> dict | None:
        """The next reply, or None if none came before `deadline` (time.monotonic)."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                return None
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise WorkerExited
            self.buffer += chunk
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"reply is not a JSON object: {line[:200]!r}")
        return message

    def wait_exit(self) -> int | None:
        """The worker's exit status (as Popen.returncode) within a grace period; None if it still runs.

        The worker is not reaped (WNOWAIT), so its process group cannot be reused before `kill()`.
        """
        deadline = time.monotonic() + EXIT_GRACE_S
        while True:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None and info.si_pid:
                return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL the worker's whole process group, reap it and release its pipes."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._release()

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not within the grace period."""
        try:
            self.send({"op": "exit"})
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._release()

    def _release(self) -> None:
        self.selector.close()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.stderr.join(EXIT_GRACE_S)


class WorkerPool:
    """Hands each configuration to a suitable worker and turns every outcome into a Record."""

    def __init__(self, python: str, *, fresh_worker_per_config: bool) -> None:
        self.python = python
        self.fresh = fresh_worker_per_config
        self.worker: Worker | None = None
        self.fingerprint: dict | None = None

    def start_for(self, config: BenchConfig) -> Worker:
        """The current worker if it is alive and has the cap `config` needs, else a new one."""
        cap = config.max_memory_bytes if config.device == "cpu" else None
        if self.worker is not None and self.worker.proc.poll() is not None:
            self.kill()
        if self.worker is not None and self.worker.cap != cap:
            self.close()
        if self.worker is None:
            self.worker = Worker(self.python, cap, fingerprint=self.fingerprint is None)
        self.worker.wait_ready()
        if self.fingerprint is None:
            self.fingerprint = self.worker.fingerprint
        return self.worker

    def prestart(self, cap: int | None) -> None:
        """Start a worker with memory cap `cap` without waiting for it, so that its imports overlap the
        caller's own start-up (validating a sweep); the first configuration then finds it ready."""
        if self.worker is None:
            self.worker = Worker(self.python, cap, fingerprint=self.fingerprint is None, wait=False)

    def run(self, config: BenchConfig) -> Record:
        """Measure `config` in a worker; a failure kills that worker and comes back as a failure Record."""
        worker = self.start_for(config)
        key = config.key()
        started, clock = time.time(), time.monotonic()
        try:
            worker.send({"op": "run", "key": key, "config": config.to_dict()})
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
        if self.fresh:
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
                      duration_s=time.monotonic() - clock, extra=extra or {})


def run_configs(configs: Sequence[BenchConfig], store: ResultStore, *, run_id: str, resume: bool = False,
                fresh_worker_per_config: bool = False,
                on_result: Callable[[Record, int, int], None] | None = None,
                python: str = sys.executable, budget: BudgetPredictor | None = None,
                pool: WorkerPool | None = None) -> RunSummary:
    """Measure each configuration in a worker process and append its Record to `store` as it completes.

    `on_result(record, done, total)` is called after each record is stored (`done` counts from 1 to
    `total`, the number of configurations this call runs). With resume=True, keys already in the store
    are skipped; with resume=False a store that already holds results is an error. With a `budget`,
    each configuration is first checked against predictions from the records so far (stored ones
    included) and recorded as `skipped`, with the prediction, instead of run when it would not fit.
    A `pool` (e.g. one whose worker was prestarted) is used, and closed, instead of a new one.
    """
    for config in configs:
        if not isinstance(config, BenchConfig):
            raise TypeError(f"run_configs takes BenchConfig objects, got {type(config).__name__}")
    summary = RunSummary(run_id=run_id, env_id=None)
    with store.exclusive():
        contents = store.read()
        summary.notes += contents.problems
        if contents.records and not resume:
            raise RunnerError(f"{store.path} already holds {len(contents.records)} results; pass --resume "
                              f"(resume=True) to finish that run, or choose a new output path")
        done = {record.key for record in contents.records}
        if budget is not None:
            for record in contents.records:
                budget.observe(record)
        todo: dict[str, BenchConfig] = {}
        for config in configs:
            key = config.key()
            if key in done:
                summary.skipped_done.append(key)
            elif key in todo:
                summary.notes.append(f"configuration {config.variant} (key {key}) is listed twice; run once")
            else:
                todo[key] = config
        pool = pool or WorkerPool(python, fresh_worker_per_config=fresh_worker_per_config)
        try:
            for index, config in enumerate(todo.values(), start=1):
                prediction = budget.check(config) if budget is not None else None
                if prediction is not None:
                    record = Record(config=config, status="skipped", prediction=prediction,
                                    timestamp=time.time(), duration_s=0.0)
                else:
                    record = pool.run(config)
                    if summary.env_id is None:
                        summary.env_id = store.append_environment(pool.fingerprint)
                if budget is not None:
                    budget.observe(record)
                record.run_id, record.env_id = run_id, summary.env_id or ""
                store.append(record)
                summary.counts[record.status] += 1
                summary.written += 1
                if on_result is not None:
                    on_result(record, index, len(todo))
        except BaseException:
            pool.kill()
            raise
        pool.close()
        summary.notes += store.repairs
    return summary
