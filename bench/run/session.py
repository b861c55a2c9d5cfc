"""A run session: measure configurations through an executor, record every outcome as it happens, resume.

Each record is appended (bench.results.store: one write + fsync) as soon as it is known, and the
session holds the file's lock for the run. With a budget, each configuration is first checked against
predictions from the records so far (stored ones included) and recorded as `skipped`, with the
prediction, instead of run when it would not fit. The environment fingerprint of the process that
measured a record is written to the store once per environment id and set as the record's `env_id`.

Durability and interrupts: KeyboardInterrupt kills the executor's workers and propagates; the file
holds exactly the records finished before it. A session killed outright takes its workers with it
(they have PR_SET_PDEATHSIG); `resume=True` then runs only the configurations whose key
(`bench.results.identity.ConfigKey`) is missing from the store.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.config import BenchConfig
from bench.results.identity import ConfigKey, fingerprint_id
from bench.results.record import STATUSES, Record
from bench.results.store import ResultStore, RunInfo
from bench.run.budget import BudgetPredictor
from bench.run.executors import Executor, make_executor
from bench.run.process import WorkerError


class RunnerError(RuntimeError):
    """The run cannot start or go on (existing results without resume, a worker that cannot start)."""


@dataclass
class RunSummary:
    """What one `run_configs` call did: records written per status, and keys skipped as already done."""

    run_id: str
    env_id: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    written: int = 0
    skipped_done: list[ConfigKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_run_id() -> str:
    """A run id that sorts by start time and does not collide: `20240131-154502-1a2b3c`."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class _Session:
    """One pass over the configurations still to run: budget check, submit, store, report."""

    def __init__(self, store: ResultStore, executor: Executor, summary: RunSummary, total: int,
                 budget: BudgetPredictor | None, on_result: Callable[[Record, int, int], None] | None) -> None:
        self.store, self.executor, self.summary = store, executor, summary
        self.total, self.budget, self.on_result = total, budget, on_result
        self.env_ids: set[str] = set()
        self.in_flight = 0

    def fill(self, pending: deque[BenchConfig]) -> None:
        """Submit configurations until the executor's slots are full; record budget skips on the way."""
        while pending and self.in_flight < self.executor.slots:
            config = pending.popleft()
            prediction = self.budget.check(config) if self.budget is not None else None
            if prediction is not None:
                self.finish(Record(config=config, status="skipped", prediction=prediction,
                                   timestamp=time.time(), duration_s=0.0))
            else:
                self.executor.submit(config)
                self.in_flight += 1

    def environment(self, fingerprint: dict | None) -> None:
        """Write a measuring process's environment once and make it the current env_id."""
        if fingerprint is None:
            return
        env_id = fingerprint_id(fingerprint)
        if env_id not in self.env_ids:
            self.env_ids.add(self.store.append_environment(fingerprint))
        self.summary.env_id = env_id

    def finish(self, record: Record) -> None:
        if self.budget is not None:
            self.budget.observe(record)
        record.run_id, record.env_id = self.summary.run_id, self.summary.env_id or ""
        self.store.append(record)
        self.summary.counts[record.status] += 1
        self.summary.written += 1
        if self.on_result is not None:
            self.on_result(record, self.summary.written, self.total)


def run_configs(configs: Sequence[BenchConfig], store: ResultStore, *, run_id: str, resume: bool = False,
                on_result: Callable[[Record, int, int], None] | None = None,
                budget: BudgetPredictor | None = None, executor: Executor | None = None,
                run_info: RunInfo | None = None, python: str = sys.executable,
                fresh_worker_per_config: bool = False) -> RunSummary:
    """Measure each configuration through `executor` and append its Record to `store` as it completes.

    `on_result(record, done, total)` is called after each record is stored (`done` counts from 1 to
    `total`, the number of configurations this call runs). With resume=True, keys already in the store
    are skipped; with resume=False a store that already holds results is an error. `run_info` (the
    command and resolved sweep) is written to the store as the run's metadata line before any result.
    Without an `executor` a local one is made (with `python` and `fresh_worker_per_config`); it is
    closed at the end.
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
        if run_info is not None:
            legacy = store.run_info(contents) if resume and not contents.runs else None
            if legacy is not None:  # a file from before run lines: keep how it was started first
                store.append_run(legacy)
            store.append_run(run_info)
        done = {record.key for record in contents.records}
        if budget is not None:
            for record in contents.records:
                budget.observe(record)
        todo: dict[ConfigKey, BenchConfig] = {}
        for config in configs:
            key = ConfigKey.from_dict(config.to_dict())
            if key in done:
                summary.skipped_done.append(key)
            elif key in todo:
                summary.notes.append(f"configuration {key.label()} is listed twice; run once")
            else:
                todo[key] = config
        executor = executor or make_executor("local", python=python, fresh_worker_per_config=fresh_worker_per_config)
        session = _Session(store, executor, summary, len(todo), budget, on_result)
        pending = deque(todo.values())
        try:
            session.fill(pending)
            for completed in executor.as_completed():
                session.in_flight -= 1
                session.environment(completed.environment)
                session.finish(completed.record)
                session.fill(pending)
        except WorkerError as exc:
            executor.kill()
            raise RunnerError(str(exc)) from exc
        except BaseException:
            executor.kill()
            raise
        executor.close()
        summary.notes += store.repairs
    return summary
