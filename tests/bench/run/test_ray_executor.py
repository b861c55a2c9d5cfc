"""The Ray executor on a local Ray instance (2 CPUs, 2 logical GPUs, loopback, no dashboard).

This machine has no GPU: Ray hands out logical GPU ids without checking hardware, which is enough to see
that every task gets its own device. Configurations run on the CPU."""

from __future__ import annotations

import os

import pytest

from bench.results.store import ResultStore
from bench.run.executors import make_executor
from bench.run.session import run_configs
from tests.bench.run.test_session import CAP, cheap
from tests.fixtures import ray_tasks

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    os.environ[ray_tasks.MARKERS] = str(tmp_path_factory.mktemp("crash-markers"))
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()
    os.environ.pop(ray_tasks.MARKERS)


def _run(tmp_path, name, configs, **options):
    store = ResultStore(tmp_path / f"{name}.jsonl")
    executor = make_executor("ray", **options)
    summary = run_configs(configs, store, run_id=name, executor=executor, probe=False)
    return summary, store.read().records


def test_each_task_gets_its_own_gpu_and_a_fresh_worker(local_ray, tmp_path):
    configs = [cheap("Probe", seq_len=n, min_repeats=3, max_repeats=3, options={"delay_s": 0.3}) for n in (8, 9)]
    summary, records = _run(tmp_path, "gpus", configs, gpus_per_task=1)
    assert summary.counts["ok"] == 2 and summary.env_id
    assert sorted(r.placement.cuda_visible_devices for r in records) == ["0", "1"]
    assert sorted(r.placement.slot for r in records) == ["ray-gpu:0", "ray-gpu:1"]
    assert {r.placement.executor for r in records} == {"ray"} and all(r.placement.attempts == 1 for r in records)
    assert len({r.extra["worker_pid"] for r in records}) == 2


def test_a_task_that_crashes_its_worker_is_retried_and_the_retry_recorded(local_ray, tmp_path):
    _, records = _run(tmp_path, "crash", [cheap("Probe", seq_len=8)], task=ray_tasks.crash_once)
    (record,) = records
    assert record.status == "ok" and record.placement.attempts == 2
    assert "WorkerCrashedError" in record.placement.retried[0]


def test_a_task_that_keeps_crashing_is_an_error_after_the_bounded_retries(local_ray, tmp_path):
    _, records = _run(tmp_path, "always", [cheap("Probe", seq_len=8)], task=ray_tasks.always_crash, retries=1)
    (record,) = records
    assert record.status == "error" and "failed 2 times" in record.error
    assert record.placement.attempts == 2 and len(record.placement.retried) == 1


def test_out_of_memory_in_a_task_is_recorded_as_oom_and_the_run_goes_on(local_ray, tmp_path):
    _, records = _run(tmp_path, "oom", [cheap("Hog", max_memory_bytes=CAP), cheap("Probe", seq_len=8)])
    assert {r.config.model.rsplit(":", 1)[1]: r.status for r in records} == {"Hog": "oom", "Probe": "ok"}


def test_a_ray_run_stores_the_same_keys_as_a_local_run(local_ray, tmp_path):
    configs = [cheap("Probe", seq_len=n) for n in (8, 16)] + [cheap("Raiser")]
    local_store = ResultStore(tmp_path / "local.jsonl")
    run_configs(configs, local_store, run_id="local", probe=False, passes=2)
    ray_store = ResultStore(tmp_path / "ray.jsonl")
    run_configs(configs, ray_store, run_id="ray", executor=make_executor("ray", placement="packed"), probe=False,
                passes=2)
    assert {r.pass_key for r in ray_store.read().records} == {r.pass_key for r in local_store.read().records}
    assert {r.key: r.status for r in ray_store.read().records} == {r.key: r.status for r in local_store.read().records}
