"""The local executor over several device slots: one isolated worker per slot, configurations spread over
them and measured at once, every record naming where it ran.

This machine has no GPU, so the GPU slots here are named cuda:0 and cuda:1 and run CPU configurations:
what is checked is that each worker gets its own CUDA_VISIBLE_DEVICES and that the records say so."""

from __future__ import annotations

import socket

import pytest

from bench.results.record import Record
from bench.results.store import ResultStore
from bench.run.budget import BudgetPredictor
from bench.run.executors.local import LocalExecutor
from bench.run.placement import DeviceSlot, parse_devices
from bench.run.session import run_configs
from tests.bench.run.test_session import ListExecutor, cheap, key_of


def slow(seq_len: int):
    """A configuration that takes about 0.6 s (three 0.2 s calls), long enough to overlap another."""
    return cheap("Probe", seq_len=seq_len, min_repeats=3, max_repeats=3, options={"delay_s": 0.2})


def _overlap(a: Record, b: Record) -> bool:
    return a.timestamp < b.timestamp + b.duration_s and b.timestamp < a.timestamp + a.duration_s


@pytest.fixture(scope="module")
def two_gpu_run(tmp_path_factory):
    """Four slow-ish configurations over two GPU slots."""
    path = tmp_path_factory.mktemp("devices") / "results.jsonl"
    slots = parse_devices("cuda:0,cuda:1", visible=2)
    executor = LocalExecutor(devices=slots)
    configs = [slow(n) for n in (8, 9, 10, 11)]
    summary = run_configs(configs, ResultStore(path), run_id="two", executor=executor, probe=False)
    return summary, ResultStore(path).read().records


def test_each_configuration_is_recorded_once_with_where_it_ran(two_gpu_run):
    summary, records = two_gpu_run
    assert summary.counts["ok"] == 4 and len(records) == 4
    for record in records:
        where = record.placement
        assert where.executor == "local" and where.placement == "exclusive"
        assert where.host == socket.gethostname()
        assert where.slot == f"cuda:{where.cuda_visible_devices}"  # the worker saw its own device
    assert {r.placement.slot for r in records} == {"cuda:0", "cuda:1"}


def test_the_slots_measure_at_the_same_time_in_separate_processes(two_gpu_run):
    _, records = two_gpu_run
    by_slot = {slot: [r for r in records if r.placement.slot == slot] for slot in ("cuda:0", "cuda:1")}
    assert any(_overlap(a, b) for a in by_slot["cuda:0"] for b in by_slot["cuda:1"])
    pids = {slot: {r.extra["worker_pid"] for r in rs} for slot, rs in by_slot.items()}
    assert not pids["cuda:0"] & pids["cuda:1"]


def test_packed_placement_runs_several_workers_on_one_device(tmp_path):
    executor = LocalExecutor(placement="packed")
    assert executor.slots == 2
    configs = [slow(n) for n in (8, 9, 10, 11)]
    run_configs(configs, ResultStore(tmp_path / "r.jsonl"), run_id="packed", executor=executor, probe=False)
    records = ResultStore(tmp_path / "r.jsonl").read().records
    assert {r.placement.placement for r in records} == {"packed"}
    assert {r.placement.slot for r in records} == {"cpu"}
    assert len({r.extra["worker_pid"] for r in records}) == 2


def test_a_failure_in_one_slot_does_not_lose_the_others(tmp_path):
    executor = LocalExecutor(devices=[DeviceSlot("cuda:0", {"CUDA_VISIBLE_DEVICES": "0"}),
                                      DeviceSlot("cuda:1", {"CUDA_VISIBLE_DEVICES": "1"})])
    configs = [cheap("SelfKiller"), cheap("Raiser"), cheap("Probe", seq_len=8), cheap("Probe", seq_len=16)]
    summary = run_configs(configs, ResultStore(tmp_path / "r.jsonl"), run_id="mixed", executor=executor,
                          probe=False)
    statuses = {r.config.model.split(":")[1]: r.status for r in ResultStore(tmp_path / "r.jsonl").read().records
                if r.config.seq_len == 8 or r.config.model.endswith(("SelfKiller", "Raiser"))}
    assert statuses == {"SelfKiller": "oom", "Raiser": "error", "Probe": "ok"}
    assert summary.written == 4


class Reversing(ListExecutor):
    """Three slots; each batch of submitted configurations comes back newest first."""

    name = "test-reversing"
    slots = 3


def test_budget_skips_the_same_configurations_when_results_arrive_out_of_order(tmp_path):
    series = [cheap("Probe", seq_len=n) for n in (8, 16, 32, 64, 128)]
    other = [cheap("Probe", seq_len=n, d_model=32) for n in (8, 16, 32, 64, 128)]
    outcomes = {}
    for name, executor in (("serial", ListExecutor()), ("reversed", Reversing())):
        executor.slots = 1 if name == "serial" else 3
        store = ResultStore(tmp_path / f"{name}.jsonl")
        run_configs(series + other, store, run_id=name, executor=executor, probe=False,
                    budget=BudgetPredictor(max_call_s=0.05))  # ListExecutor 'takes' 1 ms per token
        outcomes[name] = {key_of(r.config): r.status for r in store.read().records}
    assert outcomes["serial"] == outcomes["reversed"]
    skipped = sorted(k.seq_len for k, status in outcomes["reversed"].items() if status == "skipped")
    assert skipped == [64, 64, 128, 128]
