"""The compile pass, before timing: a compiled configuration's first call, which compiles the layer cold.

It runs only for compiled configurations (`BenchConfig.compile` other than eager) and in every replicated
pass, since each runs in a fresh worker and compiles again. After it, bench.measure.harness forbids
recompiles for the rest of the configuration's calls.
"""

from __future__ import annotations

import time

from bench.measure import compiled
from bench.measure.passes import Bench, Pass, register_pass
from bench.measure.timing import synchronize
from bench.results.record import Compilation, Part


@register_pass
class CompilePass(Pass):
    name = "compile"
    order = 5

    def run(self, bench: Bench) -> dict[str, Part]:
        c = bench.config
        if c.compile == "eager":
            return {}
        synchronize(c.device)
        start = time.perf_counter()
        bench.step()
        synchronize(c.device)
        first_call_s = time.perf_counter() - start
        return {"compilation": Compilation(mode=c.compile, first_call_s=first_call_s, graphs=compiled.graph_count())}
