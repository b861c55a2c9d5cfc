"""The measuring process: `python -m bench.run.worker` runs the configurations a session sends, one at a time.

It speaks the protocol of bench.run.protocol on its stdin and stdout.

Stdout carries nothing but protocol lines: at start-up the worker moves the protocol to private
descriptors, points file descriptor 1 at stderr (so `print`, C-level output and `os.write(1, ...)` from a
model land in stderr) and stdin at /dev/null.

Memory cap (--max-memory-bytes): applied with setrlimit(RLIMIT_DATA) after torch is imported. RLIMIT_DATA
bounds the process's private writable memory (heap, anonymous mmaps: every CPU tensor); unlike
RLIMIT_AS it does not count mapped shared libraries or reserved-but-inaccessible address space, which
in a CUDA build of torch alone exceed several GiB. An allocation beyond the cap fails at once, which
torch reports as "can't allocate memory" and Python as MemoryError: both are classified `oom`. The cap
covers the whole worker, including the interpreter and torch already loaded (`baseline_data_bytes`,
about 200-400 MB), and counts allocated memory, touched or not.

Reuse: bench.measure.harness sets each configuration's thread count (torch's default when it names none)
and seeds the generators; other global state a model changes (default dtype, backend flags) would carry
over, so run such a model with fresh_worker_per_config.

After its imports the worker calls gc.freeze(): the objects torch and the harness create at import live
for the whole process anyway, and without it every gc.collect() bench.measure makes (two per
configuration) walks all of them, about 0.2-0.8 s each.

The worker asks the kernel to SIGKILL it when its parent dies (Linux prctl PR_SET_PDEATHSIG), so a
session killed with SIGKILL leaves no worker measuring behind it.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator

from bench.config import BenchConfig
from bench.results.identity import ProbeSpec
from bench.results.record import Record
from bench.run.protocol import PROTOCOL_VERSION, TRACEBACK_LINES, encode, failure_reply, probe_reply, result_reply

_PR_SET_PDEATHSIG = 1


class Channel:
    """The protocol's two pipes, on descriptors private to the worker."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fd_out = fd_out
        self.reader = os.fdopen(fd_in, "rb")

    @classmethod
    def take_over_stdio(cls) -> Channel:
        """Move the protocol off fds 0/1, then point fd 1 at stderr and fd 0 at /dev/null."""
        sys.stdout.flush()
        fd_in, fd_out = os.dup(0), os.dup(1)
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return cls(fd_in, fd_out)

    def send(self, message: dict) -> None:
        """Write one message as one JSON line; raises ValueError for NaN/infinity or non-JSON values."""
        self.send_line(encode(message))

    def send_line(self, line: str) -> None:
        data = (line + "\n").encode()
        written = 0
        while written < len(data):
            written += os.write(self.fd_out, data[written:])

    def messages(self) -> Iterator[dict]:
        """Requests until end of input."""
        for raw in self.reader:
            if raw.strip():
                yield json.loads(raw)


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this process when the session dies (Linux); exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def set_memory_cap(limit: int) -> None:
    """Cap the process's private writable memory (RLIMIT_DATA soft limit) at `limit` bytes."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def data_bytes() -> int | None:
    """The process's private writable memory now (VmData), or None where /proc is unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def traceback_tail(exc: BaseException, lines: int = TRACEBACK_LINES) -> str:
    """The last `lines` lines of an exception's formatted traceback (the message is at the end)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _failure(key: object, exc: BaseException, classify: Callable[[BaseException], str], cap_note: str = "") -> str:
    """The failure reply line for an exception raised while serving a request."""
    status = classify(exc)
    error = traceback_tail(exc)
    if status == "oom" and cap_note:
        error += f"\n{cap_note}"
    return encode(failure_reply(key, status, error, type(exc).__name__))


def serve_request(message: dict, measure: Callable[[BenchConfig], Record],
                  classify: Callable[[BaseException], str], cap_note: str = "") -> str:
    """Measure the requested configuration; the reply line (a result, or a classified failure)."""
    key = message.get("key")
    try:
        record = measure(BenchConfig.from_dict(message["config"]))
        return encode(result_reply(key, record.to_json()))
    except BaseException as exc:  # a model's SystemExit or KeyboardInterrupt is its failure too
        return _failure(key, exc, classify, cap_note)


def serve_probe(message: dict, classify: Callable[[BaseException], str]) -> str:
    """Measure the requested machine-speed probe; the reply line (the probe, or a classified failure)."""
    from bench.measure.probe import gemm_rate

    key = message.get("key")
    try:
        return encode(probe_reply(key, gemm_rate(ProbeSpec.from_dict(message["spec"]))))
    except BaseException as exc:
        return _failure(key, exc, classify)


def main(argv: list[str] | None = None) -> int:
    """Serve requests from the session until told to exit or its pipe closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.run.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--max-memory-bytes", type=int, default=None, help="RLIMIT_DATA cap in bytes")
    parser.add_argument("--fingerprint", action="store_true", help="send the environment fingerprint")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit if this process is gone")
    args = parser.parse_args(argv)
    channel = Channel.take_over_stdio()
    die_with_parent(args.parent_pid)

    import torch

    from bench.measure.environment import fingerprint, visible_gpu_uuid
    from bench.measure.flops import FlopMismatchWarning, count_flops
    from bench.measure.harness import classify_exception, measure

    # A disagreeing count is stored (flops_agree false) and the report explains it; not printed per call.
    warnings.simplefilter("ignore", FlopMismatchWarning)
    count_flops(lambda: torch.ones(2, 2) @ torch.ones(2, 2))  # FlopCounterMode's first use imports torch._dynamo

    env = fingerprint() if args.fingerprint else None
    gc.freeze()
    baseline = data_bytes()
    cap_note = ""
    if args.max_memory_bytes is not None:
        set_memory_cap(args.max_memory_bytes)
        cap_note = (f"(worker memory cap {args.max_memory_bytes} bytes, RLIMIT_DATA; the interpreter and "
                    f"torch used {baseline} bytes of it before the run)")
    channel.send({"type": "ready", "pid": os.getpid(), "protocol": PROTOCOL_VERSION,
                  "max_memory_bytes": args.max_memory_bytes, "baseline_data_bytes": baseline,
                  "fingerprint": env, "host": socket.gethostname(),
                  "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "gpu_uuid": visible_gpu_uuid()})
    for message in channel.messages():
        if message.get("op") == "exit":
            break
        if message.get("op") == "run":
            channel.send_line(serve_request(message, measure, classify_exception, cap_note))
        elif message.get("op") == "probe":
            channel.send_line(serve_probe(message, classify_exception))
        else:
            channel.send({"type": "protocol_error", "error": f"unknown op {message.get('op')!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
