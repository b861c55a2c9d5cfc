"""Specification of bench.selfcheck: instrument checks against known answers, rendered as a table."""

from __future__ import annotations

import math

import pytest
import torch

import bench.selfcheck as selfcheck
from bench.selfcheck import Check, render_checks, run_selfcheck

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_selfcheck_memory_and_flop_checks_pass_and_timer_ratio_is_measured():
    checks = {check.name: check for check in run_selfcheck("cpu")}
    assert list(checks) == ["timer", "memory", "flops"]
    assert checks["flops"].passed and checks["flops"].measured == checks["flops"].expected == 2 * 67 * 45 * 83
    assert checks["memory"].passed and checks["memory"].expected == 64 * 2**20
    timer = checks["timer"]
    # The pass band (0.8-1.25) is for the CLI; this shared machine is too noisy to assert it here.
    assert math.isfinite(timer.ratio_or_error) and timer.ratio_or_error > 0
    assert timer.ratio_or_error == pytest.approx(timer.measured / timer.expected)


def test_rendered_table_shows_each_check_verdict_and_the_pass_count():
    checks = [Check("timer", 1.0e-3, 1.1e-3, 0.909, True, "s/call"),
              Check("memory", 50.0, 100.0, 0.5, False, "bytes")]
    text = render_checks(checks)
    lines = text.splitlines()
    assert lines[0].startswith("PASS") and "timer" in lines[0] and "0.9090" in lines[0]
    assert lines[1].startswith("FAIL") and "memory" in lines[1] and "0.5000" in lines[1]
    assert lines[-1] == "1/2 checks passed"


def test_main_exit_status_reflects_failures(monkeypatch, capsys):
    failing = [Check("flops", 1, 2, 0.5, False, "FLOPs")]
    monkeypatch.setattr(selfcheck, "run_selfcheck", lambda device: failing)
    assert selfcheck.main(["cpu"]) == 1
    assert "FAIL" in capsys.readouterr().out
    monkeypatch.setattr(selfcheck, "run_selfcheck", lambda device: [Check("flops", 2, 2, 1.0, True, "")])
    assert selfcheck.main([]) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_selfcheck_without_a_device_says_so():
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        run_selfcheck("cuda")


@pytest.mark.cuda
@cuda
def test_cuda_selfcheck_runs_all_four_checks():
    checks = {check.name: check for check in run_selfcheck("cuda")}
    assert list(checks) == ["timer", "memory", "flops", "cuda_event_vs_wall"]
    assert checks["flops"].passed and checks["memory"].passed
