"""A one-line progress bar with ETA for long sweeps, on stderr; plain log lines when not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from bench.config.units import format_seconds
from bench.results.record import Record


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Call `update(record, done, total)` after each configuration; `close()` at the end.

    The ETA is the mean wall time per configuration so far times the number left: sweeps grow along
    their axes, so it tends to be optimistic early and firms up as the run goes on.
    """

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, record: Record, done: int) -> str:
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - done) if done else 0.0
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        c = record.config
        what = f"{c.variant} N={c.seq_len} B={c.batch} d={c.d_model} {c.mode} {c.device} pass {c.pass_index + 1}"
        median = record.summary.median if record.summary else None
        outcome = format_seconds(median) if record.status == "ok" else record.status
        return (f"[{bar}] {done}/{self.total} elapsed {_clock(elapsed)} ETA {_clock(eta)}  "
                f"{what}: {outcome}")

    def update(self, record: Record, done: int, total: int) -> None:
        self.total = total
        text = self.line(record, done)
        if self.interactive:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
