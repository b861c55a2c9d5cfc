"""Comparison of two runs: ratios, a noise-aware change label, and refusal across hardware."""

from __future__ import annotations

import pytest

from bench.analysis.compare import CompareError, compare
from tests.fixtures.synthetic import Law, frame, record, sweep

SIZES = [128, 256, 512]


def _run(scale: float = 1.0, seed: int = 0, **kwargs) -> list:
    return (sweep("fastformer", Law(1e-4 * scale, 1e-7 * scale, 1.0), SIZES, seed=seed, **kwargs)
            + sweep("sdpa", Law(1e-4, 1e-9, 2.0), SIZES, seed=seed + 100, **kwargs))


def test_a_twice_slower_variant_is_flagged_and_the_rest_is_not():
    result = compare(frame(_run(seed=0)), frame(_run(seed=1, scale=2.0)))
    table = result.table.set_index(["variant", "seq_len"])
    for n in SIZES:
        assert table.loc[("fastformer", n), "ratio"] == pytest.approx(2.0, rel=0.05)
        assert table.loc[("fastformer", n), "change"] == "slower"
        assert table.loc[("fastformer", n), "p_value"] < 0.01
        assert table.loc[("sdpa", n), "change"] == "no clear change"
    assert (result.only_in_a, result.only_in_b, result.forced) == (0, 0, False)


def test_a_faster_run_is_labelled_faster():
    result = compare(frame(_run(seed=0)), frame(_run(seed=1, scale=0.5)))
    assert set(result.table.loc[result.table["variant"] == "fastformer", "change"]) == {"faster"}


def test_different_gpus_are_refused_unless_forced():
    a = frame(_run(device="cuda", device_name="NVIDIA H100 80GB HBM3"))
    b = frame(_run(device="cuda", device_name="NVIDIA A100-SXM4-80GB"))
    with pytest.raises(CompareError, match=r"hardware differs .*H100.*A100.*force=True"):
        compare(a, b)
    forced = compare(a, b, force=True)
    assert forced.forced


def test_different_cpu_models_in_the_environment_columns_are_refused():
    a = frame(_run(), cpu_model="Intel Xeon 8480", cpu_logical_cores=16)
    b = frame(_run(), cpu_model="AMD EPYC 9654", cpu_logical_cores=16)
    with pytest.raises(CompareError, match="hardware differs"):
        compare(a, b)
    same = frame(_run(seed=3), cpu_model="Intel Xeon 8480", cpu_logical_cores=16)
    assert len(compare(a, same).table) == 6


def test_nothing_in_common_is_an_error():
    a = frame(sweep("fastformer", Law(0, 1e-6, 1.0), [128]))
    b = frame(sweep("fastformer", Law(0, 1e-6, 1.0), [256]))
    with pytest.raises(CompareError, match="no successfully measured configuration in common"):
        compare(a, b)


def test_the_passes_of_a_configuration_are_combined_and_unmatched_ones_counted():
    a = frame([record("sdpa", [1.0] * 5, pass_index=0), record("sdpa", [2.0] * 5, pass_index=1),
               record("sdpa", [3.0] * 5, pass_index=2), record("sdpa", [1.0] * 5, seq_len=512)])
    b = frame([record("sdpa", [4.0] * 5)])
    result = compare(a, b)
    assert result.table["median_a"].tolist() == [2.0] and result.table["ratio"].tolist() == [2.0]
    assert (result.only_in_a, result.only_in_b) == (1, 0)


def test_too_few_samples_are_not_tested():
    result = compare(frame([record("sdpa", [1.0, 1.1])]), frame([record("sdpa", [3.0, 3.1])]))
    assert result.table["change"].tolist() == ["not tested"] and result.table["p_value"].isna().all()
