"""Series: the partition of a table along one axis, the couplings, and each series' identity."""

from __future__ import annotations

import json
import math

import numpy as np

from bench.analysis.series import iter_series, ok_rows, plain_value, sample_list
from bench.results.identity import SeriesKey
from tests.fixtures.synthetic import Law, frame, record, sweep


def test_a_point_belongs_to_one_series_per_axis_and_fixed_batch_comes_first():
    # A fixed-batch sweep plus a point with another batch and the same tokens as one of it must not
    # form a spurious fixed-tokens series.
    records = (sweep("fastformer", Law(0, 1e-6, 1.0), [256, 512, 1024], batch=2)
               + sweep("fastformer", Law(0, 1e-6, 1.0), [512], batch=1, seed=5))
    series = list(iter_series(frame(records), "seq_len"))
    assert [(s.coupling, len(s.frame)) for s in series] == [("fixed", 3)]


def test_series_never_mix_devices_dtypes_or_modes():
    records = (sweep("sdpa", Law(0, 1e-9, 2.0), [128, 256])
               + sweep("sdpa", Law(0, 1e-9, 2.0), [512, 1024], dtype="float64")
               + sweep("sdpa", Law(0, 1e-9, 2.0), [512, 1024], mode="train"))
    series = list(iter_series(frame(records), "seq_len"))
    assert sorted((s.keys["dtype"], s.keys["mode"], len(s.frame)) for s in series) == [
        ("float32", "forward", 2), ("float32", "train", 2), ("float64", "forward", 2)]


def test_sample_list_reads_lists_json_and_missing_values():
    assert sample_list([1, 2]) == [1.0, 2.0]
    assert sample_list(json.dumps([0.5, 0.25])) == [0.5, 0.25]
    assert sample_list(None) == [] and sample_list(math.nan) == [] and sample_list("") == []


def test_series_never_mix_hardware():
    records = (sweep("sdpa", Law(0, 1e-9, 2.0), [128, 256], device="cuda", device_name="NVIDIA H100 80GB HBM3")
               + sweep("sdpa", Law(0, 1e-9, 2.0), [128, 256], device="cuda", device_name="NVIDIA H200"))
    assert sorted(s.key.hardware for s in iter_series(frame(records), "seq_len")) == [
        "NVIDIA H100 80GB HBM3", "NVIDIA H200"]


def test_a_series_key_is_its_identity_less_the_swept_axis():
    records = sweep("fastformer", Law(0, 1e-6, 1.0), [128, 256], options={"scorer": "official"}, causal=True)
    (series,) = iter_series(frame(records), "seq_len")
    assert series.key == SeriesKey(axis="seq_len", coupling="fixed", fixed=(("batch", 2), ("d_model", 64),
                                                                            ("n_heads", 4)),
                                   causal=True, dtype="float32", device="cpu", mode="forward", scope="attention",
                                   hardware="Synthetic CPU", model="fastformer", options='{"scorer": "official"}')
    assert series.key.variant == "fastformer[scorer=official]" == series.keys["variant"]
    assert series.fixed_label == "batch=2, d_model=64, n_heads=4"


def test_tokens_and_head_dim_couplings_take_the_points_no_fixed_series_holds():
    tokens = sweep("fastformer", Law(0, 1e-6, 1.0), [128, 256, 512], tokens=4096)
    (series,) = iter_series(frame(tokens), "seq_len")
    assert (series.coupling, series.per_sequence, series.fixed_label) == (
        "tokens", True, "tokens=4096, d_model=64, n_heads=4")
    widths = [r for d, h in ((64, 4), (128, 8)) for r in sweep("fastformer", Law(0, 1e-6, 1.0), [d],
                                                               axis="d_model", n_heads=h)]
    (series,) = iter_series(frame(widths), "d_model")
    assert (series.coupling, series.per_sequence, series.fixed["head_dim"]) == ("head_dim", False, 16)


def test_across_models_a_series_spans_every_variant_and_has_no_model():
    records = sweep("sdpa", Law(0, 1e-9, 2.0), [128, 256]) + sweep("linear", Law(0, 1e-6, 1.0), [128, 256])
    (series,) = iter_series(frame(records), "seq_len", by_model=False)
    assert set(series.frame["variant"]) == {"sdpa", "linear"} and series.key.model == ""


def test_singletons_are_yielded_only_when_asked():
    df = frame([record("sdpa", [1.0] * 3, seq_len=128), record("sdpa", [1.0] * 3, seq_len=128, batch=4)])
    assert list(iter_series(df, "seq_len")) == []
    assert [len(s.frame) for s in iter_series(df, "seq_len", include_singletons=True)] == [1, 1]


def test_ok_rows_keep_ok_rows_with_a_positive_metric():
    df = frame(sweep("softmax", Law(1e-5, 1e-9, 2.0), [128, 256, 512], fail_from=512))
    assert len(ok_rows(df)) == 2
    assert ok_rows(df, "peak_bytes").empty  # no memory measured


def test_plain_value_gives_python_numbers():
    assert type(plain_value(np.int64(3))) is int and plain_value(4.0) == 4 and type(plain_value(4.0)) is int
    assert plain_value(2.5) == 2.5 and plain_value("x") == "x"
