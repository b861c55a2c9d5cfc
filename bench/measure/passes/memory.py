"""The memory pass: one untimed call whose peak memory is measured and whose FLOPs are counted.

FlopCounterMode only reads shapes and keeps no tensors, so counting in the same call changes nothing
that is allocated, and sharing the call saves one run of the layer per configuration. A compiled
configuration's memory is that of the compiled call; its FLOPs are counted on one more call of the layer
run eagerly (the same math), since FlopCounterMode does not see inside compiled code. A layer that
cannot run under FlopCounterMode at all (models.base.UncountableError, e.g. flex_attention in some torch
versions) gets its memory measured without the counter and no counted FLOPs.
"""

from __future__ import annotations

from bench.measure.flops import analytic_flops, compare_flops, flop_counter
from bench.measure.memory import measure_memory
from bench.measure.passes import Bench, Pass, register_pass
from bench.results.record import Flops, Memory, Part
from models.base import UncountableError


@register_pass
class MemoryPass(Pass):
    name = "memory"
    order = 20
    every_pass = False

    def run(self, bench: Bench) -> dict[str, Part]:
        c = bench.config
        weights = [*bench.model.parameters(), *bench.model.buffers()]
        counted: int | None
        try:
            if bench.eager_step is None:
                with flop_counter() as counter:
                    memory = measure_memory(bench.step, device=c.device, weights=weights, inputs=[bench.x])
            else:
                memory = measure_memory(bench.step, device=c.device, weights=weights, inputs=[bench.x])
                with flop_counter() as counter:
                    bench.eager_step()
            counted = int(counter.get_total_flops())
        except UncountableError:
            memory = measure_memory(bench.step, device=c.device, weights=weights, inputs=[bench.x])
            counted = None
        analytic = analytic_flops(bench.model, c)
        flops = Flops(analytic=analytic, analytic_elementwise=analytic_flops(bench.model, c, elementwise=True),
                      counted=counted, agree=compare_flops(counted, analytic, f"{c.variant} ({c.scope}, {c.mode})"))
        return {"memory": Memory.from_json(memory), "flops": flops}
