"""The scaling table: known classes recovered along every axis, per-sequence tokens series, and the
`expected` column taken from what each layer declares."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.analysis.scaling import scaling_table
from bench.results.identity import SeriesKey
from tests.fixtures.synthetic import Law, frame, sweep


def test_scaling_table_finds_the_known_classes_along_every_axis(standard):
    time_n = scaling_table(standard, "seq_len", n_boot=100).set_index("variant")
    assert time_n.loc["sdpa", "verdict"] == "quadratic" and time_n.loc["softmax", "verdict"] == "quadratic"
    for variant in ("fastformer", "fastformer[scorer=official]", "linear"):
        assert time_n.loc[variant, "verdict"] == "linear"
        assert time_n.loc[variant, "c"] == pytest.approx(0.0, abs=1e-12)
    assert "performer" not in time_n.index  # one ok length only
    assert time_n.loc["softmax", "n_total"] == 5  # the oom point is left out
    assert (time_n["verdict"] == time_n["expected"]).all()
    assert (time_n["threads"] == 2).all()
    memory = scaling_table(standard, "seq_len", "peak_bytes", n_boot=100).set_index("variant")
    assert memory.loc["softmax", "verdict"] == "quadratic" and memory.loc["sdpa", "verdict"] == "linear"
    batch = scaling_table(standard, "batch", n_boot=100)
    assert batch["verdict"].tolist() == ["linear"]
    assert batch["fixed"].iloc[0] == "seq_len=384, d_model=64, n_heads=4"
    width = scaling_table(standard, "d_model", n_boot=100)
    assert width["verdict"].tolist() == ["quadratic"]


def test_tokens_coupled_series_are_analysed_per_sequence():
    sizes = [128, 256, 512, 1024, 2048, 4096]
    records = (sweep("fastformer", Law(1e-5, 1e-7, 1.0), sizes, tokens=8192, seed=1)
               + sweep("softmax", Law(1e-6, 1e-9, 2.0), sizes, tokens=8192, seed=2))
    table = scaling_table(frame(records), n_boot=100).set_index("variant")
    assert set(table["coupling"]) == {"tokens"}
    assert table.loc["fastformer", "metric"] == "median_s per sequence"
    assert table.loc["fastformer", "verdict"] == "linear"
    assert table.loc["softmax", "verdict"] == "quadratic"


def test_scaling_table_rejects_unknown_axis_or_metric(standard):
    with pytest.raises(ValueError, match="axis"):
        scaling_table(standard, "heads")
    with pytest.raises(ValueError, match="metric"):
        scaling_table(standard, metric="tokens_per_s")


def test_each_row_carries_its_series_identity(standard):
    table = scaling_table(standard, "seq_len", n_boot=20)
    assert all(isinstance(key, SeriesKey) for key in table["series"])
    assert [key.variant for key in table["series"]] == table["variant"].tolist()
    assert [key.fixed_label() for key in table["series"]] == table["fixed"].tolist()


def _expected(table: pd.DataFrame) -> dict:
    """variant -> expected class, None where missing (pandas may hold a missing class as NaN)."""
    return {v: None if pd.isna(e) else e for v, e in zip(table["variant"], table["expected"], strict=True)}


def test_expected_is_the_class_the_rows_declare_and_none_where_undeclared():
    sizes = [128, 256, 512, 1024]
    df = frame(sweep("sdpa", Law(1e-4, 1e-9, 2.0), sizes, memory_law=Law(1e5, 2048.0, 1.0))
               + sweep("nystromformer", Law(1e-4, 1e-6, 1.0), sizes, seed=1, memory_law=Law(1e5, 2048.0, 1.0))
               + sweep("softmax", Law(1e-4, 2e-9, 2.0), sizes, seed=2, memory_law=Law(1e5, 8.0, 2.0)))
    assert df.loc[df["model"] == "nystromformer", "complexity_time"].isna().all()  # the fixture declares none
    # A declaration, not the model's name, decides: softmax here declares linear time.
    df.loc[df["model"] == "softmax", "complexity_time"] = "linear"
    assert _expected(scaling_table(df, "seq_len", n_boot=20)) == {
        "sdpa": "quadratic", "nystromformer": None, "softmax": "linear"}
    assert _expected(scaling_table(df, "seq_len", "peak_bytes", n_boot=20)) == {
        "sdpa": None, "nystromformer": None, "softmax": "quadratic"}


def test_expected_is_none_without_complexity_columns():
    df = frame(sweep("sdpa", Law(1e-4, 1e-9, 2.0), [128, 256, 512]))
    table = scaling_table(df.drop(columns=["complexity_time", "complexity_memory"]), n_boot=20)
    assert _expected(table) == {"sdpa": None}


def test_expected_along_batch_and_width_does_not_depend_on_the_layer(standard):
    assert set(scaling_table(standard, "batch", n_boot=20)["expected"]) == {"linear"}
    assert set(scaling_table(standard, "d_model", n_boot=20)["expected"]) == {"quadratic"}


def test_an_empty_table_has_the_scaling_columns():
    table = scaling_table(pd.DataFrame(columns=frame([]).columns), n_boot=20)
    assert table.empty and {"series", "expected", "verdict"} <= set(table.columns)
