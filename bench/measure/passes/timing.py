"""The timing pass, first of all: the cold call, warm-up and the timed repeats (bench.measure.timing).

The cold call is recorded in a configuration's first replicated pass only; in later passes the layer is
rebuilt in a warm process and its first call counts as one of the `warmup` calls.
"""

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
        warmup = c.warmup if c.pass_index == 0 else max(c.warmup - 1, 0)
        result = time_callable(bench.step, device=c.device, warmup=warmup, min_repeats=c.min_repeats,
                               max_repeats=c.max_repeats, budget_s=c.budget_s)
        return {"timing": Timing(samples_s=result.samples_s,
                                 cold_s=result.cold_s if c.pass_index == 0 else None, warmup=c.warmup,
                                 threads=torch.get_num_threads(), timer=result.timer, block_size=result.block_size)}
