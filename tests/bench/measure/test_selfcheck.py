"""Specification of bench.measure.selfcheck: instrument checks against known answers."""

from __future__ import annotations

import math

import pytest
import torch

from bench.measure.selfcheck import TIMER_PAIRS, TIMER_TOLERANCE, paired_ratio_verdict, run_selfcheck

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_selfcheck_memory_and_flop_checks_pass_and_timer_ratio_is_measured():
    checks = {check.name: check for check in run_selfcheck("cpu")}
    assert list(checks) == ["timer", "memory", "flops"]
    assert checks["flops"].passed and checks["flops"].measured == checks["flops"].expected == 2 * 67 * 45 * 83
    assert checks["memory"].passed and checks["memory"].expected == 64 * 2**20
    timer = checks["timer"]
    # The pass band (0.8-1.25) is for the CLI; this shared machine is too noisy to assert it here.
    assert math.isfinite(timer.ratio_or_error) and timer.ratio_or_error > 0
    assert timer.measured > 0 and timer.expected > 0
    assert f"median of {TIMER_PAIRS} interleaved pairs" in timer.detail


# A simulated machine: one call costs 2 ms, and the machine is 3x slower from round 9 on (of 18 rounds).
def _round_time(round_index: int, timer_bias: float = 1.0) -> float:
    slowdown = 1.0 if round_index < TIMER_PAIRS else 3.0
    jitter = 1.0 + 0.02 * ((round_index * 7) % 5 - 2)  # deterministic +-4 %
    return 2e-3 * slowdown * jitter * timer_bias


def test_paired_ratios_pass_when_the_machine_slows_down_half_way_but_back_to_back_timing_fails():
    rounds = range(2 * TIMER_PAIRS)
    interleaved = paired_ratio_verdict([_round_time(r) for r in rounds[0::2]],
                                       [_round_time(r) for r in rounds[1::2]], TIMER_TOLERANCE)
    assert interleaved.passed and interleaved.median == pytest.approx(1.0, abs=0.1)
    assert interleaved.low == pytest.approx(1 / 3, rel=0.1)  # the one pair that straddles the slowdown
    back_to_back = paired_ratio_verdict([_round_time(r) for r in rounds[:TIMER_PAIRS]],
                                        [_round_time(r) for r in rounds[TIMER_PAIRS:]], TIMER_TOLERANCE)
    assert not back_to_back.passed and back_to_back.median == pytest.approx(1 / 3, rel=0.1)


def test_paired_ratios_fail_when_our_timer_reads_twice_the_reference():
    rounds = range(2 * TIMER_PAIRS)
    verdict = paired_ratio_verdict([_round_time(r, timer_bias=2.0) for r in rounds[0::2]],
                                   [_round_time(r) for r in rounds[1::2]], TIMER_TOLERANCE)
    assert not verdict.passed and verdict.median == pytest.approx(2.0, rel=0.1)


def test_one_odd_pair_does_not_flip_the_verdict_but_shows_in_the_range():
    theirs = [1e-3] * TIMER_PAIRS
    for odd in (10.0, 0.1, 0.0, math.inf):
        ours = [1.02e-3] * (TIMER_PAIRS - 1) + [odd * 1e-3]
        verdict = paired_ratio_verdict(ours, theirs, TIMER_TOLERANCE)
        assert verdict.passed and verdict.median == pytest.approx(1.02)
        assert verdict.pairs == TIMER_PAIRS and verdict.low <= 1.02 <= verdict.high
        assert pytest.approx(odd) in (verdict.low, verdict.high)
    wrong = paired_ratio_verdict([2e-3] * (TIMER_PAIRS - 1) + [1e-3], theirs, TIMER_TOLERANCE)
    assert not wrong.passed  # nor does one good pair rescue a wrong timer


def test_paired_ratios_need_equal_non_empty_rounds():
    with pytest.raises(ValueError, match="same, non-zero number of rounds"):
        paired_ratio_verdict([1.0, 1.0], [1.0], TIMER_TOLERANCE)
    with pytest.raises(ValueError, match="same, non-zero number of rounds"):
        paired_ratio_verdict([], [], TIMER_TOLERANCE)


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
