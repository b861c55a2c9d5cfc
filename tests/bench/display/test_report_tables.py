"""The report's tables and summary read right: one row per series (skipped rows have no hardware of their
own), a threads column, counts in the right number, and each layer in one crossover phrase only."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest

from bench.analysis.crossovers import crossovers
from bench.display.context import ReportContext
from bench.display.sections import environment, failures, largest, results, summary
from tests.fixtures.synthetic import Law, frame, sweep

SDPA = Law(2e-5, 1e-9, 2.0)
CROSSING = Law(1e-4, 7e-7, 1.0)  # slower than SDPA at 512, faster from 1024
ALWAYS = Law(1e-6, 1e-9, 1.0)  # faster than SDPA everywhere
SIZES = [128, 256, 512, 1024, 2048]


def _ctx(df: pd.DataFrame, environments: dict | None = None) -> ReportContext:
    return ReportContext.build(df, environments or {}, run_id="r", command="c", plots=[], outdir=".")


def _skipped_without_hardware() -> pd.DataFrame:
    """softmax measured to 256 and skipped from 512, the skipped records without a device name, as stored."""
    df = frame(sweep("softmax", SDPA, SIZES, fail_from=512, fail_status="skipped")
               + sweep("sdpa", SDPA, SIZES, seed=1), cpu_model="Synthetic CPU")
    df.loc[df["status"] == "skipped", "device_name"] = None
    return df


def _table_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


def test_largest_fit_has_no_contradicting_row_for_skipped_configurations():
    rows = _table_rows(largest.render(_ctx(_skipped_without_hardware())))
    softmax = [row for row in rows if row[0] == "softmax"]
    assert len(softmax) == 1
    assert softmax[0][1] == "cpu (Synthetic CPU), float32, forward, attention"
    assert softmax[0][3] == "256 (B=2)" and softmax[0][4].startswith("512 (B=2, skipped:")


def test_failures_name_the_hardware_of_a_skipped_configurations_series():
    rows = _table_rows(failures.render(_ctx(_skipped_without_hardware())))
    assert len(rows) == 3
    assert {row[2] for row in rows} == {"cpu (Synthetic CPU), float32, forward, attention"}


def test_results_have_a_threads_column_from_the_records_timing():
    text = results.render(_ctx(frame(sweep("sdpa", SDPA, [128, 256]))))
    header = text.split("\n\n")[2].splitlines()[0]
    headers = [h.strip() for h in header.strip("|").split("|")]
    assert "threads" in headers
    column = headers.index("threads")
    assert {row[column] for row in _table_rows(text)} == {"2"}  # what the synthetic records were timed with


def test_the_environments_thread_count_is_labelled_as_the_process_default():
    text = environment.render(_ctx(frame(sweep("sdpa", SDPA, [128, 256])), {"env0": {"torch_threads": 2}}))
    assert "| torch_threads (default of the measuring process; each configuration sets its own" in text
    assert "| torch_threads | 2 |" not in text


def test_the_summary_counts_in_the_singular_and_the_plural():
    one = _ctx(frame(sweep("sdpa", SDPA, [128])))
    text = summary.render(replace(one, claims=(SimpleNamespace(status="supported"),
                                               SimpleNamespace(status="different configuration"))))
    assert "This run holds 1 configuration of 1 variant on" in text
    assert "Of 2 published claim checks, 1 is supported" in text and "1 was measured only at another" in text
    text = summary.render(replace(one, claims=(SimpleNamespace(status="not measured"),)))
    assert "Of 1 published claim check, 0 are supported" in text and "0 were measured" in text
    assert "and gets no verdict" in text
    many = summary.render(_ctx(frame(sweep("sdpa", SDPA, [128, 256]) + sweep("linear", SDPA, [128, 256], seed=1))))
    assert "This run holds 4 configurations of 2 variants on" in many


def _against_sdpa(df: pd.DataFrame) -> str:
    text = summary.render(_ctx(df))
    return next(sentence for sentence in text.split(". ") if sentence.startswith("Against sdpa"))


@pytest.mark.parametrize("other", [{"batch": 4}, {"causal": True}])
def test_a_layer_is_never_both_faster_from_a_length_and_faster_at_every_length(other):
    df = frame(sweep("sdpa", SDPA, SIZES) + sweep("fastformer", CROSSING, SIZES, seed=1)
               + sweep("sdpa", SDPA, SIZES, seed=2, **other) + sweep("fastformer", ALWAYS, SIZES, seed=3, **other))
    assert set(crossovers(df)["outcome"]) == {"crosses", "always"}
    sentence = _against_sdpa(df)
    if "causal" in other:  # the causal series is another layer: each in its own group, named apart
        assert "these become faster: fastformer forward from N=1024 (slower at 512)" in sentence
        assert "faster at every measured length: fastformer forward causal" in sentence
    else:  # two series of one layer that disagree: one phrase with each series' outcome
        assert "these become faster" not in sentence and "faster at every measured length:" not in sentence
        assert ("faster depending on the series: fastformer forward (faster from N=1024 (slower at 512) with "
                "fixed: batch=2, d_model=64, n_heads=4; faster at every measured length with fixed: batch=4, "
                "d_model=64, n_heads=4)") in sentence


def test_series_that_agree_are_named_once():
    df = frame(sweep("sdpa", SDPA, SIZES) + sweep("fastformer", ALWAYS, SIZES, seed=1)
               + sweep("sdpa", SDPA, SIZES, seed=2, batch=4) + sweep("fastformer", ALWAYS, SIZES, seed=3, batch=4))
    assert _against_sdpa(df).endswith("faster at every measured length: fastformer forward")
