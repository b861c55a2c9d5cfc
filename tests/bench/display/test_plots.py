"""Plots: non-empty PNGs (with a PDF beside each) for every kind the data supports, nothing (no crash) without
data, and figures a reader can paste into a paper."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.lines import Line2D

import bench.display.plots as plots
from bench.analysis.series import iter_series
from bench.display.plot_style import DPI, MODEL_COLORS, variant_color
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


# Paper-ready figures: vector copies, print resolution, stable colours, causal series and failures marked,
# axis labels in words and legends that do not repeat the title.

def _png_size_and_dpi(path: Path) -> tuple[int, int, float]:
    """Width and height in pixels (IHDR) and the resolution written in the pHYs chunk (dots per inch)."""
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    at = data.index(b"pHYs")
    per_metre = struct.unpack(">I", data[at + 4:at + 8])[0]
    return width, height, per_metre * 0.0254


@pytest.fixture
def figures(monkeypatch) -> dict[str, plt.Figure]:
    """The figures make_plots draws, by PNG name, kept open for inspection (closed afterwards)."""
    drawn: dict[str, plt.Figure] = {}

    def keep(fig, path):
        fig.canvas.draw()
        drawn[Path(path).name] = fig
        return Path(path)

    monkeypatch.setattr(plots, "save", keep)
    yield drawn
    for fig in drawn.values():
        plt.close(fig)


def _lines(fig: plt.Figure) -> dict[str, Line2D]:
    return {line.get_label(): line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")}


def _legend(fig: plt.Figure) -> list[str]:
    return [text.get_text() for text in fig.axes[0].get_legend().get_texts()]


def test_a_pdf_is_written_beside_every_png(written):
    for path in written:
        pdf = path.with_suffix(".pdf")
        assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF"), f"no PDF beside {path.name}"
    assert sorted(p.name for p in written[0].parent.iterdir()) == sorted(
        name for path in written for name in (path.name, path.with_suffix(".pdf").name))


def test_pngs_are_written_at_print_resolution(written):
    assert DPI >= 150
    for path in written:
        width, height, dpi = _png_size_and_dpi(path)
        assert dpi >= 149.9 and width >= 7.5 * 150 - 1 and height >= 5 * 150 - 1, path.name


def test_a_model_keeps_its_colour_across_runs_with_other_models(figures, tmp_path):
    law = Law(1e-5, 1e-7, 1.0)
    make_plots(frame(sweep("fastformer", law, [128, 256]) + sweep("linear", law, [128, 256], seed=1)), tmp_path / "a")
    first = _lines(figures.pop("time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"))
    make_plots(frame(sweep("cosformer", law, [128, 256]) + sweep("fastformer", law, [128, 256], seed=2)
                     + sweep("bigbird", law, [128, 256], seed=3)), tmp_path / "b")
    second = _lines(figures["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"])
    assert first["fastformer"].get_color() == second["fastformer"].get_color() == variant_color("fastformer")
    assert len({variant_color(v) for v in ("fastformer", "linear", "cosformer", "bigbird", "sdpa", "softmax")}) == 6


def test_variant_colours_are_fixed_shades_of_their_models():
    assert variant_color("fastformer") == matplotlib.colors.to_rgb(MODEL_COLORS["fastformer"])
    shade = variant_color("fastformer[scorer=official]")
    assert shade != variant_color("fastformer") and shade == variant_color("fastformer[scorer=official]")
    assert variant_color("my_layer") == variant_color("my_layer") != variant_color("my_other_layer")


def test_causal_and_bidirectional_series_are_told_apart(figures, tmp_path):
    law = Law(1e-5, 1e-7, 1.0)
    make_plots(frame(sweep("fastformer", law, [128, 256]) + sweep("fastformer", law, [128, 256], causal=True, seed=1)
                     + sweep("sdpa", Law(2e-5, 1e-9, 2.0), [128, 256], seed=2)
                     + sweep("sdpa", Law(2e-5, 1e-9, 2.0), [128, 256], causal=True, seed=3)), tmp_path)
    lines = _lines(figures["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"])
    assert lines["fastformer"].get_linestyle() == "-" and lines["fastformer (causal)"].get_linestyle() == "--"
    assert lines["fastformer"].get_color() == lines["fastformer (causal)"].get_color()
    speedup = _lines(figures["speedup_vs_sdpa_cpu-synthetic-cpu-float32-forward.png"])
    assert {"fastformer", "fastformer (causal)"} <= set(speedup)
    assert speedup["fastformer (causal)"].get_linestyle() == "--"


def test_unmeasured_sizes_are_marked_even_when_the_record_lacks_its_hardware(figures, tmp_path):
    law = Law(1e-5, 1e-7, 1.0)
    df = frame(sweep("linear", law, [128, 256, 512], fail_from=512, fail_status="skipped")
               + sweep("softmax", Law(1e-5, 1e-9, 2.0), [128, 256, 512], seed=1, fail_from=512))
    df.loc[df["status"] == "skipped", "device_name"] = None  # a skipped configuration never ran
    names = [p.name for p in make_plots(df, tmp_path)]
    assert names == ["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"]
    fig = figures[names[0]]
    legend = _legend(fig)
    assert "linear (skipped from N=512)" in legend and "softmax (out of memory from N=512)" in legend
    assert "x at the top: not measured (out of memory, skipped)" in legend
    crosses = [c for c in fig.axes[0].collections if len(c.get_offsets()) and c.get_offsets()[0][0] == 512]
    assert {tuple(c.get_edgecolor()[0][:3]) for c in crosses} >= {variant_color("linear"), variant_color("softmax")}


def test_axes_are_labelled_in_words(figures, tmp_path):
    make_plots(standard_frame(), tmp_path)
    labels = {name.split("_cpu")[0]: (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel())
              for name, fig in figures.items()}
    assert "sequence length" in labels["time_vs_seq_len"][0] and "time per call (s)" in labels["time_vs_seq_len"][1]
    assert "peak memory" in labels["memory_vs_seq_len"][1]
    assert "batch size" in labels["time_vs_batch"][0] and "model width" in labels["time_vs_d_model"][0]
    assert "time per call (s)" in labels["flops_vs_time"][1]
    titles = {name.split("_cpu")[0]: fig.axes[0].get_title() for name, fig in figures.items()}
    assert titles["time_vs_seq_len"].startswith("Time per call vs sequence length\n")
    assert titles["time_vs_batch"].startswith("Time per call vs batch size\n")
    assert titles["time_vs_d_model"].startswith("Time per call vs model width\n")


def test_legend_labels_leave_the_titles_parameters_out(figures, tmp_path):
    law = Law(1e-5, 1e-7, 1.0)
    make_plots(frame(sweep("fastformer", law, [128, 256]) + sweep("fastformer", law, [128, 256], batch=8, seed=1)
                     + sweep("sdpa", law, [128, 256], seed=2)), tmp_path)
    fig = figures["time_vs_seq_len_cpu-synthetic-cpu-float32-forward-fixed.png"]
    title = fig.axes[0].get_title()
    assert "d_model=64, n_heads=4" in title and "batch" not in title
    assert {"fastformer (batch=2)", "fastformer (batch=8)", "sdpa (batch=2)"} <= set(_legend(fig))
    assert not any("d_model" in text or "n_heads" in text for text in _legend(fig))
