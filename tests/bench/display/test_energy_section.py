"""The report's energy section and plot: J/token vs N where there are figures, one line of reasons where not."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.analysis.energy import energy_reasons, energy_table
from bench.display.context import ReportContext
from bench.display.plots import make_plots
from bench.display.report import write_report
from bench.display.sections.energy import render
from bench.results.record import Energy
from tests.fixtures.synthetic import Law, frame, standard_frame, sweep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_RAPL = "no RAPL: /sys/class/powercap does not exist (common on VMs)"


def _with_energy(records, j_per_token, idle_fraction=0.2):
    """The records with a measured energy part whose gross J/token is `j_per_token(N)` (pass 0 only)."""
    for r in records:
        if r.status != "ok" or r.config.pass_index:
            continue
        gross = j_per_token(r.config.seq_len)
        tokens = r.config.tokens
        r.energy = Energy(source="nvml_counter", window_s=5.0, calls=100, idle_w=60.0,
                          gross_j_per_call=gross * tokens, net_j_per_call=gross * tokens * (1 - idle_fraction),
                          gross_j_per_token=gross, net_j_per_token=gross * (1 - idle_fraction),
                          before={"temperature_c": 40.0}, after={"temperature_c": 55.0, "power_w": 300.0,
                                                                 "sm_clock_mhz": 1980.0})
    return records


def _unavailable(records, reason=NO_RAPL):
    for r in records:
        if r.status == "ok" and not r.config.pass_index:
            r.energy = Energy(source="unavailable", reason=reason)
    return records


def _gpu_frame() -> pd.DataFrame:
    seq = [256, 512, 1024]
    gpu = {"device": "cuda", "device_name": "NVIDIA H200"}
    records = (_with_energy(sweep("softmax", Law(1e-5, 1e-9, 2.0), seq, passes=2, **gpu), lambda n: 1e-6 * n)
               + _with_energy(sweep("fastformer", Law(1e-5, 1e-7, 1.0), seq, seed=1, **gpu), lambda n: 3e-4)
               + _unavailable(sweep("linear", Law(1e-5, 1e-7, 1.0), [256], seed=2, **gpu),
                              "the nvml_counter counter did not advance over a 0.01 s window of 10 calls"))
    return frame(records)


def _ctx(df, tmp_path, plots=()) -> ReportContext:
    return ReportContext.build(df, {}, run_id="r", command="c", plots=list(plots), outdir=tmp_path)


def test_the_energy_table_is_one_row_per_configuration_with_the_median_over_its_records():
    df = _gpu_frame()
    table = energy_table(pd.concat([df, df.assign(run_id="again")], ignore_index=True))
    assert list(table["variant"]) == ["fastformer"] * 3 + ["softmax"] * 3
    softmax = table[table["variant"] == "softmax"].set_index("seq_len")
    assert softmax.loc[1024, "energy_j_per_token"] == pytest.approx(1024e-6)
    assert softmax.loc[1024, "energy_net_j_per_token"] == pytest.approx(0.8 * 1024e-6)
    assert set(softmax["n_records"]) == {2} and set(softmax["energy_source"]) == {"nvml_counter"}
    assert energy_reasons(df) == {"the nvml_counter counter did not advance over a 0.01 s window of 10 calls": 1}


def test_with_figures_the_section_has_a_j_per_token_table_and_the_plot_is_written(tmp_path):
    df = _gpu_frame()
    plots = make_plots(df, tmp_path / "plots")
    energy_plots = [p for p in plots if p.name.startswith("energy_vs_seq_len")]
    assert [p.name for p in energy_plots] == ["energy_vs_seq_len_cuda-nvidia-h200-float32-forward.png"]
    assert energy_plots[0].read_bytes().startswith(PNG_SIGNATURE)
    text = render(_ctx(df, tmp_path, plots))
    assert text.startswith("## Energy per token") and "never estimated from a TDP" in text
    assert "| softmax | cuda (NVIDIA H200), float32, forward, attention | 2 | 1024 | 0.00102 | 0.000819 |" in text
    assert "| 55 °C, 300 W, 1980 MHz | nvml_counter | 1 |" in text
    assert "No energy figures for the other configurations: the nvml_counter counter did not advance" in text
    assert "![energy_vs_seq_len_cuda-nvidia-h200-float32-forward](plots/energy_vs_seq_len_" in text


def test_without_figures_the_section_says_why_in_one_line_and_no_plot_is_made(tmp_path):
    records = _unavailable(sweep("softmax", Law(1e-5, 1e-9, 2.0), [256, 512]))
    df = frame(records)
    assert not [p for p in make_plots(df, tmp_path / "plots") if p.name.startswith("energy")]
    text = render(_ctx(df, tmp_path))
    assert text == f"## Energy per token\n\nEnergy was not measured: {NO_RAPL} (2 configurations)."


def test_a_run_without_an_energy_pass_says_the_pass_was_off(tmp_path):
    text = render(_ctx(standard_frame(), tmp_path))
    assert text.splitlines()[-1] == ("Energy was not measured: the energy pass was off (`[timing] energy = false` "
                                     "or `--no-energy`).")


def test_many_distinct_reasons_are_cut_to_a_few_and_counted(tmp_path):
    records = [r for i, n in enumerate((128, 256, 512, 1024, 2048))
               for r in _unavailable(sweep("softmax", Law(1e-5, 1e-9, 2.0), [n], seed=i), f"reason {i}")]
    text = render(_ctx(frame(records), tmp_path))
    assert "reason 0 (1 configuration); reason 1" in text and "reason 3" not in text
    assert text.endswith("; and 2 other reasons.")


def test_the_written_report_embeds_the_energy_plot(tmp_path):
    path = write_report(_gpu_frame(), {}, tmp_path, run_id="r", command="c")
    text = path.read_text()
    assert "## Energy per token" in text and "(plots/energy_vs_seq_len_cuda-nvidia-h200-float32-forward.png)" in text
    assert (tmp_path / "plots" / "energy_vs_seq_len_cuda-nvidia-h200-float32-forward.png").is_file()
