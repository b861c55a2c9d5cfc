"""bench.run.schedule: each pass is a fresh seeded permutation; pass 0 lets a series grow along its axis."""

from __future__ import annotations

from bench.config import BenchConfig
from bench.run.schedule import PassQueue, pass_order


def config(model: str, seq_len: int, batch: int = 1, d_model: int = 16) -> BenchConfig:
    return BenchConfig(model=model, batch=batch, seq_len=seq_len, d_model=d_model, n_heads=2)


SWEEP = [config(m, n) for m in ("a", "b", "c") for n in (8, 16, 32, 64, 128)]


def names(configs):
    return [(c.model, c.seq_len) for c in configs]


def test_a_pass_order_is_a_seeded_permutation_that_marks_its_pass():
    first = pass_order(SWEEP, 1, seed=7)
    assert sorted(names(first)) == sorted(names(SWEEP)) and names(first) != names(SWEEP)
    assert {c.pass_index for c in first} == {1}
    assert names(pass_order(SWEEP, 1, seed=7)) == names(first)
    assert names(pass_order(SWEEP, 2, seed=7)) != names(first)
    assert names(pass_order(SWEEP, 1, seed=8)) != names(first)


def test_sequence_length_is_not_confounded_with_time_across_passes():
    positions = {n: [] for n in (8, 16, 32, 64, 128)}
    for index in range(20):
        for position, c in enumerate(pass_order(SWEEP, index, seed=0)):
            positions[c.seq_len].append(position)
    means = [sum(p) / len(p) for p in positions.values()]
    assert max(means) - min(means) < 3  # of 15 positions; a sorted sweep would give 12


def drain(queue: PassQueue) -> list[BenchConfig]:
    taken = []
    while queue:
        c = queue.pop_ready()
        assert c is not None, "a queue with nothing in flight always has a ready configuration"
        queue.finished(c)
        taken.append(c)
    return taken


def test_an_ordered_pass_grows_each_series_along_its_axis_but_interleaves_series_at_random():
    taken = drain(PassQueue(pass_order(SWEEP, 0, seed=3), ordered=True))
    for model in "abc":
        lengths = [c.seq_len for c in taken if c.model == model]
        assert lengths == sorted(lengths)
    assert [c.model for c in taken] != sorted(c.model for c in taken)


def test_an_ordered_pass_waits_for_a_shorter_size_in_flight():
    queue = PassQueue([config("a", 64), config("a", 8)], ordered=True)
    first = queue.pop_ready()
    assert first.seq_len == 8
    assert queue.pop_ready() is None  # 64 waits for 8
    queue.finished(first)
    assert queue.pop_ready().seq_len == 64


def test_other_widths_are_other_series_and_later_passes_follow_their_permutation():
    queue = PassQueue([config("a", 64, d_model=32), config("a", 8)], ordered=True)
    assert queue.pop_ready().seq_len == 64
    drawn = pass_order(SWEEP, 1, seed=0)
    assert names(drain(PassQueue(drawn, ordered=False))) == names(drawn)
