"""Result files: append-only JSON Lines that survive a run killed at any moment, and their table form.

File format
-----------
One JSON object per line, of two kinds:

- `{"kind": "environment", "schema": 1, "id": ..., "fingerprint": {...}}`: the machine and software a
  run measured on (bench.environment.fingerprint), written once per environment id;
- `{"kind": "result", "schema": 1, "key": ..., "env_id": ..., ...}`: one configuration's outcome,
  `Record.to_line()`; `env_id` refers to an environment line of the same file.

Durability: each line is written whole by one write() on a file opened for appending, then fsync'ed, so
a killed run leaves every finished record intact. The worst an interruption (power loss, full disk) can
leave is a torn last line without its newline; reading reports and skips it, and the next append first
truncates it away (a last line that is complete JSON but only lacks its newline is kept and gets the
newline instead). Each repair is listed in `ResultStore.repairs` and warned about.

Reading is strict elsewhere: a line in the middle that is not valid JSON, not a known kind or of an
unknown schema version raises StorageError naming the file and line; nothing is silently dropped.
If one key appears twice (e.g. two runs appended to one file), the last line wins and `problems` says so.

Table columns (`load_results`)
------------------------------
Exactly `bench.record.COLUMNS`, in that order, one row per configuration of each file:
identity `key` (hash of the whole config), `run_id`, `variant` (model with options), the config fields
`model`, `options` (JSON), `batch`, `seq_len`, `d_model`, `n_heads`, `causal`, `dtype`, `device`,
`mode`, `scope`; outcome `status` (ok/oom/error/timeout/skipped) and `error` (traceback tail);
timing statistics in seconds over the timed samples `n_samples`, `median_s`, `iqr_s`, `p10_s`, `p90_s`,
`mean_s`, `min_s`, `noisy` (IQR/median > 10 %), `cold_s` (first call), `tokens_per_s` (batch*seq_len /
median), the raw `samples_s` list, `threads`, `timer`; memory in bytes `peak_bytes` (above the pre-run
baseline), `weights_bytes`, `inputs_bytes`, `cuda_peak_allocated_bytes`, `cuda_peak_reserved_bytes`,
`nvml_process_bytes` and `memory_method`; FLOPs per call `flops_analytic`,
`flops_analytic_elementwise`, `flops_counted` (FlopCounterMode), `flops_per_s`, `flops_agree`; then
`kernel`, `param_count`, `env_id`, `device_name`, `predicted_s`/`predicted_bytes`/`skip_reason` (for
skipped configurations), `timestamp` (Unix time) and `duration_s` (wall time of the whole measurement).
After them come environment columns, sorted: every top-level scalar field of the fingerprint the row's
`env_id` names, prefixed `env_` (e.g. `env_torch`, `env_gpu_name`, `env_cpu_model`). Several files are
concatenated: the same configuration measured in two files gives two rows (told apart by `run_id`).
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.record import COLUMNS, SCHEMA_VERSION, Record

ENVIRONMENT = "environment"
RESULT = "result"
_SCALARS = (str, int, float, bool, type(None))


class StorageError(RuntimeError):
    """A results file cannot be used as it is; the message names the file, the line and what to do."""


class StorageWarning(UserWarning):
    """A results file had a recoverable problem (torn last line, duplicate key) that was handled."""


@dataclass
class StoreContents:
    """What a results file holds: records (last one per key), environments by id, and problems found."""

    records: list[Record] = field(default_factory=list)
    environments: dict[str, dict] = field(default_factory=dict)
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
        from bench.environment import fingerprint_id  # imports torch: only the writing side pays for it

        env_id = fingerprint_id(fingerprint)
        if env_id not in self.read().environments:
            line = {"kind": ENVIRONMENT, "schema": SCHEMA_VERSION, "id": env_id, "fingerprint": fingerprint}
            self._append_line(json.dumps(line, sort_keys=True, allow_nan=False))
        return env_id

    def done_keys(self) -> set[str]:
        """Keys of every configuration with a result in the file, whatever its status."""
        return {record.key for record in self.read().records}

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
        seen_at: dict[str, int] = {}
        by_key: dict[str, Record] = {}
        for lineno, raw in numbered:
            if not raw.strip():
                continue
            obj = self._parse(lineno, raw)
            if obj["kind"] == ENVIRONMENT:
                contents.environments[obj["id"]] = obj["fingerprint"]
                continue
            record = self._record(lineno, obj)
            if record.key in by_key:
                first = seen_at[record.key]
                contents.problems.append(f"{self.path}: key {record.key} ({record.config.variant}) appears "
                                         f"on lines {first} and {lineno}; keeping line {lineno}")
                del by_key[record.key]
            by_key[record.key] = record
            seen_at[record.key] = lineno
        contents.records = list(by_key.values())
        for record in contents.records:
            if record.env_id and record.env_id not in contents.environments:
                contents.problems.append(f"{self.path}:{seen_at[record.key]}: env_id {record.env_id!r} has "
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
        if kind not in (ENVIRONMENT, RESULT):
            raise StorageError(f"{where}: unknown line kind {kind!r} (expected 'environment' or 'result'); "
                               f"{advice}")
        if obj.get("schema") != SCHEMA_VERSION:
            raise StorageError(f"{where}: {kind} line has schema {obj.get('schema')!r}, but this version of "
                               f"attnbench reads schema {SCHEMA_VERSION}; read it with the version that "
                               f"wrote it")
        if kind == ENVIRONMENT and not (isinstance(obj.get("id"), str) and isinstance(obj.get("fingerprint"),
                                                                                     dict)):
            raise StorageError(f"{where}: environment line needs a string 'id' and an object 'fingerprint'; "
                               f"{advice}")
        return obj

    def _record(self, lineno: int, obj: dict) -> Record:
        try:
            record = Record.from_json(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{self.path}:{lineno}: result line is not a valid record ({exc}); fix or "
                               f"delete that line, or write to a new output path") from exc
        if obj.get("key") != record.key:
            raise StorageError(f"{self.path}:{lineno}: stored key {obj.get('key')!r} does not match its "
                               f"configuration (hash {record.key}); the line was edited or is corrupt")
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


def load_results(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Results of one or more files as a table: COLUMNS, then `env_*` columns joined on env_id."""
    rows = []
    env_columns: set[str] = set()
    for path in _as_paths(paths):
        contents = _read_existing(path)
        for record in contents.records:
            row = record.row()
            env = environment_columns(contents.environments.get(record.env_id, {}))
            env_columns.update(env)
            row.update(env)
            rows.append(row)
    return pd.DataFrame(rows, columns=[*COLUMNS, *sorted(env_columns)])


def load_environments(paths: str | Path | Sequence[str | Path]) -> dict[str, dict]:
    """Environment fingerprints by id, from one or more results files."""
    environments: dict[str, dict] = {}
    for path in _as_paths(paths):
        environments.update(_read_existing(path).environments)
    return environments


def environment_columns(fingerprint: dict) -> dict[str, object]:
    """The fingerprint's top-level scalar fields as `env_<name>` columns (nested values are left out)."""
    columns = {f"env_{name}": value for name, value in fingerprint.items() if isinstance(value, _SCALARS)}
    return {name: value for name, value in columns.items() if name not in COLUMNS}


def _as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _read_existing(path: Path) -> StoreContents:
    if not path.is_file():
        raise StorageError(f"no results file at {path}; give the path `run_bench.py run --out` wrote")
    contents = ResultStore(path).read()
    for problem in contents.problems:
        warnings.warn(problem, StorageWarning, stacklevel=3)
    return contents


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
