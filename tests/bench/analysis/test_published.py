"""The papers' numbers: one value per reported length, and the ratios the claims quote."""

from __future__ import annotations

import pytest

from bench.analysis.published import FIGURE2, LRA_PEAK_GB, LRA_STEPS_PER_S, SEQ_LENS


def test_figure2_and_lra_tables_have_one_value_per_length():
    for table in FIGURE2.values():
        assert all(len(row) == len(SEQ_LENS) for row in table.values())
    assert all(len(row) == 4 for row in (*LRA_STEPS_PER_S.values(), *LRA_PEAK_GB.values()))


def test_published_ratios_are_the_papers_9x_to_46x_and_6x_to_3x():
    inference = FIGURE2["forward"]
    assert inference["Transformer"][0] / inference["Fastformer"][0] == pytest.approx(9.3, abs=0.05)
    assert inference["Transformer"][2] / inference["Fastformer"][2] == pytest.approx(45.8, abs=0.05)
    assert inference["Linear Transformer"][0] / inference["Fastformer"][0] == pytest.approx(5.7, abs=0.05)
    assert inference["Linear Transformer"][-1] / inference["Fastformer"][-1] == pytest.approx(2.86, abs=0.05)
    training = FIGURE2["train"]
    assert training["Transformer"][0] / training["Fastformer"][0] == pytest.approx(6.6, abs=0.05)
    assert training["Transformer"][2] / training["Fastformer"][2] == pytest.approx(33.2, abs=0.05)
