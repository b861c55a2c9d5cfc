"""A run session: measure configurations through an executor, record every outcome as it happens, resume.

A run makes `passes` replicated passes over its configurations, in the orders of bench.run.schedule:
pass 0 takes each configuration's cold call, memory and FLOPs besides its timed samples; later passes
time again only the configurations whose pass 0 was ok and none of whose passes failed. Before each
pass the machine-speed probe (bench.measure.probe) is measured once per device, dtype, width and thread
count and stored as a probe line with the pass's index: a shared machine's speed moves within a run, so
a run's probe is the median of its passes' (bench.results.table.probe_rate).

Each record is appended (bench.results.store: one write + fsync) as soon as it is known, and the
session holds the file's lock for the run. With a budget, each configuration is first checked against
predictions from the records so far (stored ones included) and recorded as `skipped`, with the
prediction, instead of run when it would not fit. The environment fingerprint of the process that
measured a record is written to the store once per environment id and set as the record's `env_id`.

Durability and interrupts: KeyboardInterrupt kills the executor's workers and propagates; the file
holds exactly the records finished before it. A session killed outright takes its workers with it
(they have PR_SET_PDEATHSIG); `resume=True` then runs only the (configuration, pass) pairs
(`bench.results.identity.PassKey`) missing from the store.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bench.config import BenchConfig
from bench.results.identity import ConfigKey, PassKey, ProbeSpec, fingerprint_id
from bench.results.record import STATUSES, Record
from bench.results.store import ResultStore, RunInfo
from bench.run.budget import BudgetPredictor
from bench.run.executors import Executor, make_executor
from bench.run.process import WorkerError
from bench.run.schedule import PassQueue, pass_order


class RunnerError(RuntimeError):
    """The run cannot start or go on (existing results without resume, a worker that cannot start)."""


@dataclass
class RunSummary:
    """What one `run_configs` call did: records written per status, and pass keys skipped as already done."""

    run_id: str
    env_id: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    written: int = 0
    skipped_done: list[PassKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def make_run_id() -> str:
    """A run id that sorts by start time and does not collide: `20240131-154502-1a2b3c`."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class _Session:
    """The passes still to run: budget check, submit, store, report."""

    def __init__(self, store: ResultStore, executor: Executor, summary: RunSummary, total: int,
                 budget: BudgetPredictor | None, on_result: Callable[[Record, int, int], None] | None,
                 stopped: set[ConfigKey]) -> None:
        """`stopped`: configurations the store already holds a failed pass of (they get no more passes)."""
        self.store, self.executor, self.summary = store, executor, summary
        self.total, self.budget, self.on_result = total, budget, on_result
        self.env_ids: set[str] = set()
        self.in_flight = 0
        self.stopped = set(stopped)
        self.stopped_before = frozenset(stopped)

    def probe(self, specs: Sequence[ProbeSpec], pass_index: int) -> None:
        """Measure and store each machine-speed probe before pass `pass_index`; one that fails is noted
        and the run goes on."""
        for spec in specs:
            completed = self.executor.probe(spec)
            if completed is None or completed.probe is None:
                self.summary.notes.append(f"machine-speed probe {spec.to_dict()} could not be measured "
                                          f"before pass {pass_index}")
                continue
            self.environment(completed.environment)
            self.store.append_probe(self.summary.run_id, self.summary.env_id or "",
                                    {**completed.probe, "pass": pass_index})

    def run_passes(self, unique: dict[ConfigKey, BenchConfig], done: set[PassKey], passes: int, seed: int,
                   probes: dict[int, list[ProbeSpec]]) -> None:
        """Every pass in turn over the configurations not yet done and not stopped by a failure, each
        after its machine-speed probes (`probes`: pass index -> the specs still to measure)."""
        for index in range(passes):
            if probes.get(index):
                self.probe(probes[index], index)
            todo = []
            for key, config in unique.items():
                if PassKey(key, index) in done:
                    self.summary.skipped_done.append(PassKey(key, index))
                elif key not in self.stopped:
                    todo.append(config)
                elif index > 0 and key not in self.stopped_before:
                    self.total -= 1  # stopped during this call: its later passes were counted
            self.run_pass(PassQueue(pass_order(todo, index, seed), ordered=self.budget is not None and index == 0))

    def run_pass(self, queue: PassQueue) -> None:
        """Submit the pass's configurations as slots free up; store each outcome as it arrives."""
        self.fill(queue)
        for completed in self.executor.as_completed():
            self.in_flight -= 1
            self.environment(completed.environment)
            assert completed.record is not None, "as_completed yields configurations' records"
            self.finish(completed.record, queue)
            self.fill(queue)

    def fill(self, queue: PassQueue) -> None:
        """Submit configurations until the executor's slots are full; record budget skips on the way."""
        while queue and self.in_flight < self.executor.slots:
            config = queue.pop_ready()
            if config is None:
                return
            prediction = self.budget.check(config) if self.budget is not None and config.pass_index == 0 else None
            if prediction is not None:
                self.finish(Record(config=config, status="skipped", prediction=prediction,
                                   timestamp=time.time(), duration_s=0.0), queue)
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

    def finish(self, record: Record, queue: PassQueue) -> None:
        queue.finished(record.config)
        if self.budget is not None and record.config.pass_index == 0:
            self.budget.observe(record)
        if record.status != "ok":
            self.stopped.add(record.key)
        record.run_id, record.env_id = self.summary.run_id, self.summary.env_id or ""
        self.store.append(record)
        self.summary.counts[record.status] += 1
        self.summary.written += 1
        if self.on_result is not None:
            self.on_result(record, self.summary.written, self.total)


def _unique(configs: Sequence[BenchConfig], summary: RunSummary) -> dict[ConfigKey, BenchConfig]:
    """The configurations by key, as pass 0; a key listed twice is noted and run once."""
    unique: dict[ConfigKey, BenchConfig] = {}
    for config in configs:
        if not isinstance(config, BenchConfig):
            raise TypeError(f"run_configs takes BenchConfig objects, got {type(config).__name__}")
        key = ConfigKey.from_dict(config.to_dict())
        if key in unique:
            summary.notes.append(f"configuration {key.label()} is listed twice; run once")
        else:
            unique[key] = replace(config, pass_index=0)
    return unique


def run_configs(configs: Sequence[BenchConfig], store: ResultStore, *, run_id: str, passes: int = 1, seed: int = 0,
                resume: bool = False, on_result: Callable[[Record, int, int], None] | None = None,
                budget: BudgetPredictor | None = None, executor: Executor | None = None,
                run_info: RunInfo | None = None, python: str = sys.executable,
                fresh_worker_per_config: bool = False, probe: bool = True) -> RunSummary:
    """Measure each configuration `passes` times through `executor`; append each Record to `store` as it
    completes (see the module docstring for the passes and their orders, drawn from `seed`).

    `on_result(record, done, total)` is called after each record is stored (`done` counts from 1; `total`
    is how many records this call expects to write, lowered when a configuration stops early). With
    resume=True, pass keys already in the store are skipped; with resume=False a store that already
    holds results is an error. `run_info` (the command and resolved sweep) is written to the store as
    the run's metadata line before any result. Without an `executor` a local one is made (with `python`
    and `fresh_worker_per_config`); it is closed at the end. probe=False measures no machine-speed probe.
    """
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be a positive integer, got {passes!r}")
    summary = RunSummary(run_id=run_id, env_id=None)
    unique = _unique(configs, summary)
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
        done = {record.pass_key for record in contents.records if record.key in unique}
        if budget is not None:
            for record in contents.records:
                if record.config.pass_index == 0:
                    budget.observe(record)
        executor = executor or make_executor("local", python=python, fresh_worker_per_config=fresh_worker_per_config)
        stopped = {record.key for record in contents.records if record.status != "ok"}
        total = sum(PassKey(key, p) not in done for key in unique if key not in stopped for p in range(passes))
        session = _Session(store, executor, summary, total, budget, on_result, stopped)
        probed = {(ProbeSpec.from_dict(p), int(p.get("pass") or 0)) for p in contents.probes}
        specs = dict.fromkeys(ProbeSpec(c.device, c.dtype, c.d_model, c.threads) for c in unique.values())
        probes = {index: [spec for spec in specs if (spec, index) not in probed] for index in range(passes)} \
            if probe else {}
        try:
            session.run_passes(unique, done, passes, seed, probes)
        except WorkerError as exc:
            executor.kill()
            raise RunnerError(str(exc)) from exc
        except BaseException:
            executor.kill()
            raise
        executor.close()
        summary.notes += store.repairs
    return summary
