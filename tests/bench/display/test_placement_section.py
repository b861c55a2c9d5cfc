"""The report's "Where it ran" section: the placement policy in words, the devices used, retried tasks."""

from __future__ import annotations

from bench.display.context import ReportContext
from bench.display.sections.placement import render
from tests.fixtures.synthetic import standard_frame


def _ctx(df, tmp_path) -> ReportContext:
    return ReportContext.build(df, {}, run_id="r", command="c", plots=[], outdir=tmp_path)


def test_results_without_placement_say_it_was_not_recorded(tmp_path):
    text = render(_ctx(standard_frame(), tmp_path))
    assert "## Where it ran" in text and "Not recorded" in text


def test_packed_results_are_flagged_as_measured_under_interference(tmp_path):
    df = standard_frame()
    df["executor"], df["host"], df["device_uuid"], df["attempts"] = "local", "node1", None, 1
    df["placement"] = ["packed" if i % 2 else "exclusive" for i in range(len(df))]
    df["slot"] = ["cuda:0" if i % 3 else "cuda:1" for i in range(len(df))]
    df.loc[df.index[0], "attempts"] = 3
    text = render(_ctx(df, tmp_path))
    assert "**packed**" in text and "under interference" in text
    assert "**exclusive**" in text and "one configuration per device at a time" in text
    assert "| node1 | cuda:0 | - |" in text and "| node1 | cuda:1 | - |" in text
    assert "1 record(s) needed more than one attempt" in text and "(3 attempts)" in text


def test_an_exclusive_record_that_shared_its_gpu_with_another_process_is_warned_about(tmp_path):
    df = standard_frame()
    df["executor"], df["host"], df["slot"], df["device_uuid"], df["attempts"] = "local", "n", "cuda:0", "GPU-1", 1
    df["placement"], df["others_on_device"] = "exclusive", 0
    assert "Warning" not in render(_ctx(df, tmp_path))
    df.loc[df.index[:2], "others_on_device"] = 1
    assert "**Warning**: 2 exclusive record(s) started with another process on their GPU" in render(_ctx(df, tmp_path))
