"""The order of a run: replicated passes, each visiting every configuration in a fresh random order.

Pass p follows a permutation drawn from its own seeded generator (`pass_order`), so one seed gives one
order and sequence length is not confounded with the time of measurement. A pass starts when the one
before it has finished. In pass 0 the budget predictor (bench.run.budget) must see a series' shorter
sizes before it judges a longer one, so with `ordered=True` the next configuration is the first of
the permutation whose shorter sizes of the same budget series have all finished: the series are
interleaved at random, each growing along its axis. Later passes follow their permutation as drawn.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from bench.config import BenchConfig
from bench.run.budget import series_key


def pass_order(configs: Sequence[BenchConfig], pass_index: int, seed: int) -> list[BenchConfig]:
    """`configs` as measured in pass `pass_index`: shuffled by a generator seeded from (seed, pass)."""
    order = [replace(c, pass_index=pass_index) for c in configs]
    random.Random(f"attnbench-pass:{seed}:{pass_index}").shuffle(order)
    return order


def _size(config: BenchConfig) -> tuple[int, int]:
    return config.seq_len, config.batch


class PassQueue:
    """One pass's configurations not yet submitted, handed out in its order (see the module docstring)."""

    def __init__(self, configs: Sequence[BenchConfig], *, ordered: bool) -> None:
        self.pending = list(configs)
        self.ordered = ordered
        self._unfinished = {c.digest(): (series_key(c), _size(c)) for c in configs}

    def __bool__(self) -> bool:
        return bool(self.pending)

    def _ready(self, config: BenchConfig) -> bool:
        if not self.ordered:
            return True
        series, size = series_key(config), _size(config)
        return not any(other_size < size and other_series == series
                       for other_series, other_size in self._unfinished.values())

    def pop_ready(self) -> BenchConfig | None:
        """The next configuration that may start now, or None while it waits on ones in flight."""
        for i, config in enumerate(self.pending):
            if self._ready(config):
                return self.pending.pop(i)
        return None

    def finished(self, config: BenchConfig) -> None:
        """Mark a configuration of this pass as done (measured, failed or skipped)."""
        self._unfinished.pop(config.digest(), None)
