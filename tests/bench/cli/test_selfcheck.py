"""`run_bench.py selfcheck`: a CUDA check without a device is bad input."""

from __future__ import annotations

import pytest
import torch

from tests.bench.cli.conftest import cli


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_selfcheck_on_cuda_without_a_device_is_one_line_and_exit_2(tmp_path):
    done = cli("selfcheck", "--device", "cuda", cwd=tmp_path)
    assert done.returncode == 2 and "no CUDA device" in done.stderr and len(done.stderr.splitlines()) == 1


def test_selfcheck_exits_1_when_a_check_fails(monkeypatch, capsys):
    import argparse

    import bench.measure.selfcheck as selfcheck
    from bench.cli.selfcheck import selfcheck_command
    from bench.measure.check import Check

    monkeypatch.setattr(selfcheck, "run_selfcheck", lambda device: [Check("flops", 1, 2, 0.5, False, "FLOPs")])
    assert selfcheck_command(argparse.Namespace(device="cpu")) == 1
    assert "FAIL" in capsys.readouterr().out
    monkeypatch.setattr(selfcheck, "run_selfcheck", lambda device: [Check("flops", 2, 2, 1.0, True, "")])
    assert selfcheck_command(argparse.Namespace(device="cpu")) == 0
