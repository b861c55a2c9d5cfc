"""Throughput: achieved FLOP/s and the fraction of a GPU's dense peak, only where the peak is known."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.analysis.throughput import achieved_flops, peak_flops
from tests.fixtures.synthetic import Law, frame, sweep


@pytest.mark.parametrize("name, dtype, expected", [
    ("NVIDIA H100 80GB HBM3", "bfloat16", 989e12), ("NVIDIA H100 80GB HBM3", "float32", 67e12),
    ("NVIDIA H200", "float16", 989e12), ("NVIDIA A100-SXM4-80GB", "float32", 19.5e12),
    ("Tesla V100-SXM2-32GB", "float16", 125e12), ("NVIDIA H100 PCIe", "bfloat16", None),
    ("Tesla V100-PCIE-32GB", "float16", None), ("NVIDIA A100-SXM4-80GB", "float64", None),
    ("AMD EPYC 7B13", "float32", None), (None, "float32", None),
])
def test_peak_flops_only_for_listed_gpus_and_dtypes(name, dtype, expected):
    assert peak_flops(name, dtype) == expected


def test_achieved_flops_gives_a_fraction_of_peak_only_for_known_gpus():
    cpu = sweep("sdpa", Law(0, 1e-9, 2.0), [256], flops_law=Law(0, 4e3, 2.0), noise=0.0)
    gpu = sweep("sdpa", Law(0, 1e-12, 2.0), [256], flops_law=Law(0, 4e3, 2.0), noise=0.0, device="cuda",
                device_name="NVIDIA H100 80GB HBM3", dtype="bfloat16")
    table = achieved_flops(frame(cpu + gpu)).set_index("device")
    rate = 4e3 * 256 ** 2 / (1e-12 * 256 ** 2)
    assert table.loc["cuda", "flops_per_s"] == pytest.approx(rate)
    assert table.loc["cuda", "fraction_of_peak"] == pytest.approx(rate / 989e12)
    assert table.loc["cuda", "peak_source"] == "vendor datasheet"
    assert pd.isna(table.loc["cpu", "peak_flops_per_s"]) and pd.isna(table.loc["cpu", "fraction_of_peak"])
    assert table.loc["cpu", "flops_source"] == "analytic"
