"""The timing pass, first of all: the cold call, warm-up and the timed repeats (bench.measure.timing)."""

from __future__ import annotations

import torch

from bench.measure.passes import Bench, Pass, register_pass
from bench.measure.timing import time_callable
from bench.results.record import Part, Timing


@register_pass
class TimingPass(Pass):
    name = "timing"
    order = 10

    def run(self, bench: Bench) -> dict[str, Part]:
        c = bench.config
        result = time_callable(bench.step, device=c.device, warmup=c.warmup, min_repeats=c.min_repeats,
                               max_repeats=c.max_repeats, budget_s=c.budget_s)
        return {"timing": Timing(samples_s=result.samples_s, cold_s=result.cold_s, warmup=c.warmup,
                                 threads=torch.get_num_threads(), timer=result.timer, block_size=result.block_size)}
