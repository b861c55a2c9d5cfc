"""A configuration measured ok in the baseline that ends otherwise now fails by name; a timeout or budget
skip that only a slower machine explains (by the machine-speed probe) is a warning instead; sizes the
runner skipped after a shorter one ended take that one's verdict; missing ones are listed once."""

import dataclasses

import pytest

from bench.gate import GateReport, run_gate
from tests.fixtures.gate_data import CPU_A, make_runs

FROM_2048 = {("fastformer", 2048): "timeout", ("fastformer", 4096): "skipped", ("fastformer", 8192): "skipped"}


def _status(report: GateReport) -> dict[str, tuple[str, str]]:
    return {c.subject.split(" b=")[0]: (c.status, c.reason) for c in report.checks if c.kind == "status"}


def _near_the_timeout(baseline, seconds: float = 7.0):
    """The baseline with every measurement having taken `seconds` (close to the synthetic 10 s timeout)."""
    return dataclasses.replace(baseline, configurations={
        key: {**entry, "duration_s": seconds} for key, entry in baseline.configurations.items()})


def test_a_timeout_from_the_middle_size_up_fails_each_size_by_name(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(2, 3), status=FROM_2048), baseline, policy)
    assert not report.passed
    rows = _status(report)
    assert rows["fastformer N=2048"][0] == "fail" and "now timeout" in rows["fastformer N=2048"][1]
    assert "machine is x1.0" in rows["fastformer N=2048"][1]  # the probe saw no slower machine
    for n in (4096, 8192):
        status, reason = rows[f"fastformer N={n}"]
        assert status == "fail" and reason == "skipped because the shorter N=2048 ended timeout (which is a fail)"


@pytest.mark.parametrize("ended", ["oom", "error"])
def test_an_oom_or_crash_fails_by_name(policy, baseline, ended):
    report = run_gate(make_runs(CPU_A, seeds=(2, 3), status={("linear", 512): ended}), baseline, policy)
    [failure] = [c for c in report.failures if c.kind == "status"]
    assert failure.subject.startswith("linear N=512 ") and failure.metric == f"ok -> {ended}"


def test_a_timeout_that_a_slower_machine_explains_is_a_warning(policy, baseline):
    """The baseline's measurement took 7 s of a 10 s timeout; the probe says this machine is 1.6x slower."""
    report = run_gate(make_runs(CPU_A, seeds=(2, 3), machine=1.6, status=FROM_2048), _near_the_timeout(baseline),
                      policy)
    rows = _status(report)
    assert rows["fastformer N=2048"][0] == "warn" and "explained by a slower machine" in rows["fastformer N=2048"][1]
    assert rows["fastformer N=8192"][0] == "warn"
    assert not [c for c in report.failures if c.kind == "status"]


def test_a_timeout_the_probe_cannot_explain_fails(policy, baseline):
    same_speed = run_gate(make_runs(CPU_A, seeds=(2, 3), status=FROM_2048), _near_the_timeout(baseline), policy)
    assert _status(same_speed)["fastformer N=2048"][0] == "fail"  # near the limit, but the machine is not slower
    unprobed = run_gate(make_runs(CPU_A, seeds=(2, 3), machine=1.6, probe=False, status=FROM_2048),
                        _near_the_timeout(baseline), policy)
    status, reason = _status(unprobed)["fastformer N=2048"]
    assert status == "fail" and "no machine-speed probe" in reason


def test_a_budget_skip_is_explained_only_by_a_machine_as_slow_as_its_prediction(policy, baseline):
    skipped = {("softmax", 8192): "skipped"}  # predicted from its true curve on this run's machine
    slower = run_gate(make_runs(CPU_A, seeds=(2, 3), machine=1.5, status=skipped), baseline, policy)
    assert _status(slower)["softmax N=8192"][0] == "warn"
    regressed = run_gate(make_runs(CPU_A, seeds=(2, 3), machine=1.5, status=skipped,
                                   size_slowdown={("softmax", 8192): 3.0}), baseline, policy)
    status, reason = _status(regressed)["softmax N=8192"]
    assert status == "fail" and "predicted" in reason


def test_configurations_missing_from_the_run_are_listed_once(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(2, 3), seq_lens=(128, 256, 512, 1024)), baseline, policy)
    [missing] = [c for c in report.checks if c.kind == "status" and c.metric == "not in this run"]
    assert missing.status == "skipped" and missing.subject == "15 configuration(s)"
    assert missing.reason.endswith("and 12 more")
