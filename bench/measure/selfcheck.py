"""Self-check of the measuring instruments against references whose answer is known.

1. timer: our `time_callable` median vs `torch.utils.benchmark.Timer.blocked_autorange` on a reference
   matmul (512 x 512 fp32 on CPU, 4096 x 4096 on CUDA), in TIMER_PAIRS interleaved pairs of rounds whose
   order alternates (ours then theirs, theirs then ours, ...), so a steady drift favours neither; passes
   when the median of the per-pair ratios is within TIMER_TOLERANCE, so a machine that speeds up or slows
   down during the check moves both timers of a pair together and does not fail it.
2. memory: `measure_memory` of a call that allocates and fills a known number of bytes; within 5 %.
3. flops: `count_flops` of one matmul of odd sizes against 2 m n k; must be exact.
4. (CUDA only) event timer vs wall clock: the median per-call time from CUDA events vs perf_counter around
   a synchronised block of the same kernels divided by its count; within TIMER_TOLERANCE.

Timer ratios depend on the machine's noise (a shared CPU can fail check 1 honestly); the memory and FLOP
checks should always pass. `run_selfcheck` returns the checks as data; bench.display.selfcheck renders
them and the CLI prints them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.utils.benchmark as torch_benchmark

from bench.measure.check import Check
from bench.measure.flops import count_flops
from bench.measure.memory import measure_memory
from bench.measure.timing import device_kind, synchronize, time_callable
from bench.results.stats import quantile

TIMER_TOLERANCE = (0.8, 1.25)
MEMORY_TOLERANCE = 0.05
TIMER_BUDGET_S = 1.0  # the CUDA event-vs-wall check's budget
TIMER_PAIRS = 9  # odd, so the median is one measured pair
TIMER_ROUND_S = 0.1  # per timer per round: 9 pairs x 2 x 0.1 s is about the old single 2 x 1 s comparison
MATMUL_SIZE = {"cpu": 512, "cuda": 4096}
MEMORY_CHECK_BYTES = {"cpu": 64 * 2**20, "cuda": 256 * 2**20}
FLOP_SHAPE = (67, 45, 83)
WALL_BLOCK_CALLS = 50


def _ratio(measured: float, expected: float) -> float:
    return measured / expected if expected else math.inf


def _within(ratio: float, bounds: tuple[float, float]) -> bool:
    return math.isfinite(ratio) and bounds[0] <= ratio <= bounds[1]


def _matmul_operands(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = MATMUL_SIZE[device_kind(device)]
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    return a, b


@dataclass(frozen=True)
class PairedVerdict:
    """The median, lowest and highest of the per-pair ratios ours / theirs, the pair count and the verdict."""

    median: float
    low: float
    high: float
    pairs: int
    passed: bool


def paired_ratio_verdict(ours: Sequence[float], theirs: Sequence[float],
                         tolerance: tuple[float, float]) -> PairedVerdict:
    """Judge timer against reference by the median of ours[i] / theirs[i], i.e. rounds measured side by side.

    Pairing cancels drift that hits both timers of a pair alike; the median ignores a minority of odd pairs.
    """
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"need the same, non-zero number of rounds from each timer; got {len(ours)} and "
                         f"{len(theirs)}")
    ratios = [_ratio(o, t) for o, t in zip(ours, theirs, strict=True)]
    median = quantile(ratios, 0.5)
    return PairedVerdict(median, min(ratios), max(ratios), len(ratios), _within(median, tolerance))


def check_timer(device: str) -> Check:
    """Our timer vs torch.utils.benchmark on the same matmul, interleaved round by round, judged per pair.

    measured / expected are the medians of each timer's rounds; the ratio is the median of the pair ratios.
    """
    a, b = _matmul_operands(device)
    reference = torch_benchmark.Timer(stmt="torch.mm(a, b)", globals={"torch": torch, "a": a, "b": b},
                                      num_threads=torch.get_num_threads())
    ours: list[float] = []
    theirs: list[float] = []
    def our_round() -> float:
        round_ = time_callable(lambda: torch.mm(a, b), device=device, warmup=1, min_repeats=5,
                               max_repeats=10_000, budget_s=TIMER_ROUND_S)
        return quantile(round_.samples_s, 0.5)

    for pair in range(TIMER_PAIRS):
        if pair % 2 == 0:
            ours.append(our_round())
            theirs.append(reference.blocked_autorange(min_run_time=TIMER_ROUND_S).median)
        else:
            theirs.append(reference.blocked_autorange(min_run_time=TIMER_ROUND_S).median)
            ours.append(our_round())
    verdict = paired_ratio_verdict(ours, theirs, TIMER_TOLERANCE)
    lo, hi = TIMER_TOLERANCE
    return Check("timer", quantile(ours, 0.5), quantile(theirs, 0.5), verdict.median, verdict.passed,
                 f"s/call, {a.shape[0]}^3 fp32 matmul vs torch.utils.benchmark; ratio = median of "
                 f"{verdict.pairs} interleaved pairs (range {verdict.low:.2f}-{verdict.high:.2f}, pass {lo}-{hi})")


def check_memory(device: str) -> Check:
    """measure_memory of a call that allocates and fills a known number of bytes."""
    nbytes = MEMORY_CHECK_BYTES[device_kind(device)]

    def allocate() -> None:
        torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)

    measured = measure_memory(allocate, device=device)
    ratio = _ratio(measured["peak_bytes"], nbytes)
    bounds = (1 - MEMORY_TOLERANCE, 1 + MEMORY_TOLERANCE)
    return Check("memory", measured["peak_bytes"], nbytes, ratio, _within(ratio, bounds),
                 f"bytes, method {measured['method']} (pass within {MEMORY_TOLERANCE:.0%})")


def check_flops(device: str) -> Check:
    """count_flops of one (m x k) @ (k x n) matmul against 2 m n k, exactly."""
    m, k, n = FLOP_SHAPE
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    counted = count_flops(lambda: torch.mm(a, b))
    expected = 2 * m * n * k
    return Check("flops", counted, expected, _ratio(counted, expected), counted == expected,
                 f"FLOPs of a {m}x{k} @ {k}x{n} matmul (pass when exact)")


def check_cuda_events(device: str) -> Check:
    """CUDA-event per-call median vs a synchronised wall-clock block of the same kernel."""
    a, b = _matmul_operands(device)
    events = time_callable(lambda: torch.mm(a, b), device=device, warmup=3, min_repeats=10,
                           max_repeats=10_000, budget_s=TIMER_BUDGET_S)
    event_median = quantile(events.samples_s, 0.5)
    walls = []
    for _ in range(5):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(WALL_BLOCK_CALLS):
            torch.mm(a, b)
        synchronize(device)
        walls.append((time.perf_counter() - start) / WALL_BLOCK_CALLS)
    wall_median = quantile(walls, 0.5)
    ratio = _ratio(event_median, wall_median)
    lo, hi = TIMER_TOLERANCE
    return Check("cuda_event_vs_wall", event_median, wall_median, ratio, _within(ratio, TIMER_TOLERANCE),
                 f"s/call, events vs perf_counter over {WALL_BLOCK_CALLS} synchronised calls "
                 f"(pass {lo}-{hi})")


def run_selfcheck(device: str) -> list[Check]:
    """Run every check that applies to `device` and return them (nothing is raised for a failed check)."""
    kind = device_kind(device)
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("selfcheck on cuda needs a CUDA device; torch.cuda.is_available() is False")
    checks = [check_timer(device), check_memory(device), check_flops(device)]
    if kind == "cuda":
        checks.append(check_cuda_events(device))
    return checks

