"""Result files: append-only JSON Lines that survive a run killed at any moment, and resume from them.

File format
-----------
One JSON object per line, of four kinds (the run line is under Run metadata below):

- `{"kind": "environment", "schema": 1, "id": ..., "fingerprint": {...}}`: the machine and software a
  run measured on (bench.measure.environment.fingerprint), written once per environment id;
- `{"kind": "result", "schema": 1, "key": ..., "env_id": ..., ...}`: one configuration's outcome,
  `Record.to_line()`; `env_id` refers to an environment line of the same file;
- `{"kind": "probe", "schema": 1, "run_id", "env_id", "probe": {...}}`: a machine-speed probe measured
  before one replicated pass of a run (bench.measure.probe: the matmul rate at one device, dtype and
  width; its `pass` field says which pass, absent in files from before per-pass probes).

Durability: each line is written whole by one write() on a file opened for appending, then fsync'ed, so
a killed run leaves every finished record intact. The worst an interruption (power loss, full disk) can
leave is a torn last line without its newline; reading reports and skips it, and the next append first
truncates it away (a last line that is complete JSON but only lacks its newline is kept and gets the
newline instead). Each repair is listed in `ResultStore.repairs` and warned about.

Reading is strict elsewhere: a line in the middle that is not valid JSON, not a known kind or of an
unknown schema version raises StorageError naming the file and line; nothing is silently dropped.
If one key appears twice (e.g. two runs appended to one file), the last line wins and `problems` says so.

Run metadata
------------
- `{"kind": "run", "schema": 1, "run_id", "command", "sweep"}`: written when a run starts (and again
  when it is resumed): the command line and the resolved sweep (`Sweep.to_dict()`), so `--resume` and
  the report read them from the results file itself. Files written before this line existed kept them
  in a `run_info.json` beside the results file, which `run_info()` still reads.

Records are identified by `bench.results.identity.PassKey`: the configuration (`ConfigKey`, which leaves
out the timing policy: repeats, budget, threads, seed) and its replicated pass. A file holds one
measurement per key. The stored `key` is a checksum
of the whole configuration, verified on reading. The table form of a file is `bench.results.table`.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.results.identity import PassKey, fingerprint_id
from bench.results.record import SCHEMA_VERSION, Record

ENVIRONMENT = "environment"
RESULT = "result"
RUN = "run"
PROBE = "probe"
KINDS = (ENVIRONMENT, RESULT, RUN, PROBE)
LEGACY_RUN_INFO = "run_info.json"


class StorageError(RuntimeError):
    """A results file cannot be used as it is; the message names the file, the line and what to do."""


class StorageWarning(UserWarning):
    """A results file had a recoverable problem (torn last line, duplicate key) that was handled."""


@dataclass(frozen=True)
class RunInfo:
    """How a run was started: its id, the command line and the resolved sweep (a TOML-shaped mapping)."""

    run_id: str
    command: str
    sweep: dict | None = None


@dataclass
class StoreContents:
    """What a results file holds: records (last one per key), environments by id, runs, probes (each with
    its run_id and env_id), and problems found."""

    records: list[Record] = field(default_factory=list)
    environments: dict[str, dict] = field(default_factory=dict)
    runs: list[RunInfo] = field(default_factory=list)
    probes: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class ResultStore:
    """An append-only JSON Lines results file; see the module docstring for the guarantees."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repairs: list[str] = []

    def append(self, record: Record) -> None:
        """Write one result line durably (one write, flushed and fsync'ed)."""
        self._append_line(record.to_line())

    def append_environment(self, fingerprint: dict) -> str:
        """Write the environment line for `fingerprint` unless its id is in the file; return the id."""
        env_id = fingerprint_id(fingerprint)
        if env_id not in self.read().environments:
            line = {"kind": ENVIRONMENT, "schema": SCHEMA_VERSION, "id": env_id, "fingerprint": fingerprint}
            self._append_line(json.dumps(line, sort_keys=True, allow_nan=False))
        return env_id

    def append_run(self, info: RunInfo) -> None:
        """Write the run line: the command and resolved sweep a run (or its resumption) started with."""
        line = {"kind": RUN, "schema": SCHEMA_VERSION, "run_id": info.run_id, "command": info.command,
                "sweep": info.sweep}
        self._append_line(json.dumps(line, sort_keys=True, allow_nan=False))

    def append_probe(self, run_id: str, env_id: str, probe: dict) -> None:
        """Write a machine-speed probe measured by run `run_id` in environment `env_id`."""
        line = {"kind": PROBE, "schema": SCHEMA_VERSION, "run_id": run_id, "env_id": env_id, "probe": probe}
        self._append_line(json.dumps(line, sort_keys=True, allow_nan=False))

    def run_info(self, contents: StoreContents | None = None) -> RunInfo | None:
        """How the file's first run was started: its run line, else a legacy run_info.json beside the file.

        Pass the `contents` already read to spare a second read of the file.
        """
        runs = (contents or self.read()).runs
        if runs:
            return runs[0]
        legacy = self.path.parent / LEGACY_RUN_INFO
        try:
            data = json.loads(legacy.read_text())
            return RunInfo(str(data.get("run_id", "")), str(data["command"]), data.get("sweep_spec"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def read(self) -> StoreContents:
        """Parse the whole file (a missing file is empty); raise StorageError on corruption before the end."""
        if not self.path.exists():
            return StoreContents()
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()
        numbered = list(enumerate(lines, start=1))
        contents = StoreContents()
        if tail.strip():
            lineno = len(lines) + 1
            if isinstance(_try_json(tail), dict):
                numbered.append((lineno, tail))
                contents.problems.append(f"{self.path}:{lineno}: the last line lacks its newline; it is "
                                         f"complete and kept (the next append adds the newline)")
            else:
                contents.problems.append(f"{self.path}:{lineno}: torn last line ({len(tail)} bytes, from an "
                                         f"interrupted write) skipped; the next append removes it")
        seen_at: dict[PassKey, int] = {}
        by_key: dict[PassKey, Record] = {}
        for lineno, raw in numbered:
            if not raw.strip():
                continue
            obj = self._parse(lineno, raw)
            if obj["kind"] == ENVIRONMENT:
                contents.environments[obj["id"]] = obj["fingerprint"]
                continue
            if obj["kind"] == PROBE:
                contents.probes.append({**obj["probe"], "run_id": obj.get("run_id"), "env_id": obj.get("env_id")})
                continue
            if obj["kind"] == RUN:
                contents.runs.append(RunInfo(str(obj.get("run_id", "")), str(obj.get("command", "")),
                                             obj.get("sweep")))
                continue
            record = self._record(lineno, obj)
            key = record.pass_key
            if key in by_key:
                contents.problems.append(f"{self.path}: {key.label()} appears on lines {seen_at[key]} and "
                                         f"{lineno}; keeping line {lineno}")
                del by_key[key]
            by_key[key] = record
            seen_at[key] = lineno
        contents.records = list(by_key.values())
        for record in contents.records:
            if record.env_id and record.env_id not in contents.environments:
                contents.problems.append(f"{self.path}:{seen_at[record.pass_key]}: env_id {record.env_id!r} has "
                                         f"no environment line in this file")
        return contents

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold an advisory lock on the file for a whole run, so two runs cannot interleave in one file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StorageError(f"{self.path} is being written by another run (it holds the file's lock); "
                                   f"wait for that run to finish or write to another output path") from None
            yield
        finally:
            os.close(fd)

    def _parse(self, lineno: int, raw: bytes) -> dict:
        where = f"{self.path}:{lineno}"
        advice = ("the file is corrupt before its end, which an interrupted append cannot cause; "
                  "fix or delete that line, or write to a new output path")
        obj = _try_json(raw)
        if not isinstance(obj, dict):
            raise StorageError(f"{where}: not a JSON object ({raw[:60]!r}...); {advice}")
        kind = obj.get("kind")
        if kind not in KINDS:
            raise StorageError(f"{where}: unknown line kind {kind!r} (expected one of {', '.join(KINDS)}); "
                               f"{advice}")
        if obj.get("schema") != SCHEMA_VERSION:
            raise StorageError(f"{where}: {kind} line has schema {obj.get('schema')!r}, but this version of "
                               f"attnbench reads schema {SCHEMA_VERSION}; read it with the version that "
                               f"wrote it")
        if kind == ENVIRONMENT and not (isinstance(obj.get("id"), str) and isinstance(obj.get("fingerprint"),
                                                                                     dict)):
            raise StorageError(f"{where}: environment line needs a string 'id' and an object 'fingerprint'; "
                               f"{advice}")
        if kind == PROBE and not isinstance(obj.get("probe"), dict):
            raise StorageError(f"{where}: probe line needs an object 'probe'; {advice}")
        return obj

    def _record(self, lineno: int, obj: dict) -> Record:
        try:
            record = Record.from_json(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{self.path}:{lineno}: result line is not a valid record ({exc}); fix or "
                               f"delete that line, or write to a new output path") from exc
        if obj.get("key") != record.config.digest():
            raise StorageError(f"{self.path}:{lineno}: stored key {obj.get('key')!r} does not match its "
                               f"configuration (hash {record.config.digest()}); the line was edited or is corrupt")
        return record

    def _append_line(self, line: str) -> None:
        if "\n" in line:
            raise ValueError("a results line must not contain a newline")
        data = (line + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            self._repair_tail(fd)
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_directory(self.path.parent)

    def _repair_tail(self, fd: int) -> None:
        """Make the file end with a newline: drop a torn last line, or terminate a complete one."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = _last_line_start(fd, size)
        tail = os.pread(fd, size - start, start)
        lineno = _count_newlines(fd, start) + 1
        if isinstance(_try_json(tail), dict):
            os.write(fd, b"\n")
            message = f"{self.path}:{lineno}: added the missing newline after the complete last line"
        else:
            os.ftruncate(fd, start)
            message = (f"{self.path}:{lineno}: removed a torn last line ({size - start} bytes, from an "
                       f"interrupted write) before appending")
        os.fsync(fd)
        self.repairs.append(message)
        warnings.warn(message, StorageWarning, stacklevel=4)


def _try_json(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _last_line_start(fd: int, size: int, chunk: int = 1 << 16) -> int:
    """Offset just after the last newline in the file (0 when there is none)."""
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        found = os.pread(fd, end - begin, begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _count_newlines(fd: int, end: int, chunk: int = 1 << 20) -> int:
    count = 0
    for begin in range(0, end, chunk):
        count += os.pread(fd, min(chunk, end - begin), begin).count(b"\n")
    return count


def _fsync_directory(directory: Path) -> None:
    """Make a newly created file's directory entry durable too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
