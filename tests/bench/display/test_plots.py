"""Plots: non-empty PNGs for every kind the data supports, and nothing (no crash) without data."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from bench.analysis.series import iter_series
from bench.display.plots import Panel, make_plots
from tests.fixtures.synthetic import Law, frame, standard_frame, sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KINDS = ("time_vs_seq_len", "memory_vs_seq_len", "time_vs_batch", "time_vs_d_model", "speedup_vs_sdpa",
         "flops_vs_time")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    return make_plots(standard_frame(), tmp_path_factory.mktemp("plots"))


def test_backend_is_headless():
    assert matplotlib.get_backend().lower() == "agg"


def test_every_plot_kind_is_written_as_a_non_empty_png(written):
    names = [p.name for p in written]
    for kind in KINDS:
        assert any(name.startswith(kind) for name in names), f"no {kind} plot in {names}"
    for path in written:
        data = path.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def test_file_names_are_safe_and_unique(written):
    names = [p.name for p in written]
    assert len(names) == len(set(names))
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-.") for n in names)


def test_empty_results_write_nothing(tmp_path):
    assert make_plots(standard_frame().iloc[0:0], tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_plots_without_data_are_skipped_cleanly(tmp_path):
    # No sdpa, no FLOP counts, no memory, no batch or width sweep: only the time-vs-N plot.
    df = frame(sweep("fastformer", Law(1e-5, 1e-7, 1.0), [128, 256, 512]))
    names = [p.name for p in make_plots(df, tmp_path)]
    assert names == ["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"]


def test_only_failures_give_no_plot(tmp_path):
    df = frame(sweep("softmax", Law(1e-5, 1e-9, 2.0), [128, 256], fail_from=128))
    assert make_plots(df, tmp_path) == []


def test_tokens_coupled_sweeps_and_devices_get_their_own_figures(tmp_path):
    records = (sweep("fastformer", Law(1e-5, 1e-7, 1.0), [128, 256, 512], tokens=4096)
               + sweep("fastformer", Law(1e-5, 1e-7, 1.0), [128, 256, 512], device="cuda",
                       device_name="NVIDIA H100 80GB HBM3"))
    names = sorted(p.name for p in make_plots(frame(records), tmp_path))
    assert names == ["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-tokens.png",
                     "time_vs_seq_len_cuda-nvidia-h100-80gb-hbm3-float32-forward-fixed.png"]


def test_a_panel_is_a_series_identity_less_causality_and_scope(tmp_path):
    law = Law(1e-5, 1e-7, 1.0)
    records = (sweep("fastformer", law, [128, 256]) + sweep("fastformer", law, [128, 256], causal=True, seed=1)
               + sweep("fastformer", law, [128, 256], scope="block", seed=2))
    df = frame(records)
    assert {Panel.of(s.key) for s in iter_series(df, "seq_len")} == {
        Panel("cpu", "Synthetic CPU", "float32", "forward")}
    assert [p.name for p in make_plots(df, tmp_path)] == ["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"]


def test_panels_sort_name_and_title_by_device_hardware_dtype_and_mode():
    gpu = Panel("cuda", "NVIDIA H100 80GB HBM3", "bfloat16", "train")
    cpu = Panel("cpu", "", "float32", "forward")
    assert sorted([gpu, cpu]) == [cpu, gpu]
    assert gpu.slug("tokens") == "cuda-nvidia-h100-80gb-hbm3-bfloat16-train-tokens"
    assert cpu.slug() == "cpu-float32-forward"
    assert gpu.title("Time vs seq_len", "fixed") == (
        "Time vs seq_len\ncuda (NVIDIA H100 80GB HBM3), bfloat16, train, fixed")
    assert cpu.title("FLOPs vs measured time") == "FLOPs vs measured time\ncpu, float32, forward"
