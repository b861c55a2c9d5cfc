"""A worker process seen from the session: start it, talk to it, read how it ended, kill it.

Each worker is bench.run.worker, started through bench/run/launch/attnbench_worker.py, in its own
process group (a timeout or interrupt kills the whole group), speaking bench.run.protocol. Its
PYTHONPATH is this repository's root, then the session's working directory, then any existing
PYTHONPATH, and it runs in the session's working directory: this tool's `models` and `bench` come
first (a project's own packages of those names cannot shadow them), and `tests.*` and a user's
`package.module:ClassName` importable by the session are importable by the worker too. glibc's malloc
thresholds are fixed in the worker (STEADY_MALLOC below) so repeated CPU allocations behave the same
from run to run. What the worker writes to stdout or stderr (model prints, warnings) is copied to the
session's stderr.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, TextIO

from bench.run.protocol import PROTOCOL_VERSION, TRACEBACK_LINES, encode

STARTUP_TIMEOUT_S = 300.0
EXIT_GRACE_S = 5.0
REPO_ROOT = Path(__file__).resolve().parents[2]
# The worker's entry point: a script, so that the working directory does not come first on its path.
LAUNCHER = Path(__file__).resolve().parent / "launch" / "attnbench_worker.py"


class WorkerError(RuntimeError):
    """A worker cannot start: every configuration would fail alike, so the run stops."""


class WorkerExited(Exception):
    """The worker closed its reply pipe (it exited or was killed)."""


# glibc's malloc moves its mmap and trim thresholds as a process frees large blocks, so the same
# tensor allocation may be served from the heap or by fresh, page-faulting mmap depending on history:
# a CPU layer's time was seen to switch between two levels 2-3x apart from one run to the next. Fixed
# thresholds (blocks up to 32 MiB from the heap, which is not trimmed between calls) give every
# configuration the steady state a caching allocator would; the memory pass still calls malloc_trim
# first. A user's own MALLOC_* settings win.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def worker_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The session's environment with PYTHONPATH = repository root, working directory, existing PYTHONPATH;
    glibc malloc thresholds fixed (STEADY_MALLOC) and CUDA devices numbered in PCI bus order (NVML's
    order, so an index names the same GPU to CUDA and to NVML) unless the user set them; then `extra`
    (an executor's device assignment, e.g. CUDA_VISIBLE_DEVICES)."""
    env = {**STEADY_MALLOC, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **os.environ, **(extra or {})}
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
    """Copies a worker's stderr to the session's, keeping the last lines for failure reports."""

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
    """One worker process in its own process group, and the session's end of its pipes."""

    def __init__(self, python: str, cap: int | None, *, fingerprint: bool, wait: bool = True,
                 env: dict[str, str] | None = None) -> None:
        """Start the worker (with `env` added to its environment); with wait=False return at once and let
        `wait_ready` collect its hello."""
        self.cap = cap
        command = [python, str(LAUNCHER), "--parent-pid", str(os.getpid())]
        if cap is not None:
            command += ["--max-memory-bytes", str(cap)]
        if fingerprint:
            command.append("--fingerprint")
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=worker_environment(env),
                                         start_new_session=True, close_fds=True)
        except OSError as exc:
            raise WorkerError(f"cannot start the benchmark worker with python={python!r}: {exc}") from exc
        self.stderr = StderrPump(self.proc.stderr, sys.stderr)
        self.stderr.start()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.command = command
        self.pid: int | None = None
        self.fingerprint: dict | None = None
        self.hello: dict = {}
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the worker's ready message (once); a worker that does not start is a WorkerError."""
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
            raise WorkerError(f"the benchmark worker ({' '.join(self.command)}) did not start: "
                              f"{ready or 'no ready message'}\n{self.stderr.tail()}")
        self.pid = ready["pid"]
        self.fingerprint = ready.get("fingerprint")
        self.hello = ready

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
