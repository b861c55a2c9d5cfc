"""Figures of a results table as PNG files with a PDF beside each: time and memory against sequence length,
batch and width, speed-up over SDPA, counted work against measured time, and energy per token against
sequence length.

One figure per `Panel` (device, hardware, dtype, mode: a series' identity less causality and scope)
and, along seq_len, per coupling (fixed batch or fixed tokens). Lines are medians with an interquartile
band (from the raw samples when present), coloured by model (bench.display.plot_style: the same colour in
every report), dashed when causal. Configurations that ran out of memory, timed out or were skipped are
marked with an x along the top edge at their length, since no value was measured for them, and their
series' legend label says from which length. The title holds the values every line shares; a legend
label only what tells its line apart. Plots without data are not written.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from bench.analysis.energy import energy_table  # noqa: E402
from bench.analysis.replicates import combined  # noqa: E402
from bench.analysis.series import Series, iter_series, sample_list  # noqa: E402
from bench.analysis.unmeasured import fill_hardware  # noqa: E402
from bench.display.plot_style import (  # noqa: E402
    AXIS_LABELS,
    AXIS_WORDS,
    MEMORY_LABEL,
    STATUS_WORDS,
    TIME_LABEL,
    failure_note,
    legend_label,
    linestyle,
    marker,
    save,
    setting_words,
    shared_and_own,
    variant_color,
)
from bench.results.identity import HARDWARE_FIELD, ConfigKey, SeriesKey, flag  # noqa: E402
from bench.results.record import NOT_FITTING  # noqa: E402


def _slug(*parts: object) -> str:
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True, order=True)
class Panel:
    """One figure: the part of a series' identity its lines share. Causality and scope are left out, so
    series that differ only in them are separate lines of one figure. Panels sort, and name their files,
    by device, hardware, dtype, mode and execution (the compile mode, with "+tf32" when TF32 was on)."""

    device: str
    hardware: str
    dtype: str
    mode: str
    execution: str = "eager"

    @classmethod
    def of(cls, key: SeriesKey) -> Panel:
        """The panel a series is drawn in."""
        return cls(key.device, key.hardware, key.dtype, key.mode, _execution(key.compile, key.tf32))

    @classmethod
    def of_row(cls, row: pd.Series) -> Panel:
        """The panel a single table row (a point of no particular series) is drawn in."""
        key = ConfigKey.from_dict(row)
        hardware = row.get(HARDWARE_FIELD)
        return cls(key.device, hardware if isinstance(hardware, str) else "", key.dtype, key.mode,
                   _execution(key.compile, key.tf32))

    def slug(self, *extra: object) -> str:
        """A file-name part, e.g. `cuda-nvidia-h200-float32-forward-fixed` (an unknown hardware and eager
        execution are left out)."""
        parts = astuple(self)
        return _slug(*(parts[:-1] if self.execution == "eager" else parts), *extra)

    def title(self, what: str, extra: str = "") -> str:
        """A figure title: `what`, then the device (hardware), dtype, mode, execution unless eager, `extra`."""
        where = f"{self.device} ({self.hardware})" if self.hardware else self.device
        execution = "" if self.execution == "eager" else f", {self.execution}"
        return f"{what}\n{where}, {self.dtype}, {self.mode}{execution}" + (f", {extra}" if extra else "")


def _execution(compile_mode: str, tf32: bool) -> str:
    return compile_mode + ("+tf32" if tf32 else "")


def _series_by_panel(df: pd.DataFrame, axis: str, *, by_model: bool = True) -> list[tuple[Panel, list[Series]]]:
    """The series of `df` along `axis`, grouped into panels, in panel order."""
    panels: dict[Panel, list[Series]] = {}
    for series in iter_series(df, axis, by_model=by_model):
        panels.setdefault(Panel.of(series.key), []).append(series)
    return sorted(panels.items(), key=lambda item: item[0])


def _spread(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and spread per configuration: the range of its passes' medians when it has two or more
    passes, else the interquartile range of its raw samples."""
    med = pd.to_numeric(frame[metric]).to_numpy(dtype=float)
    if metric != "median_s":
        return med, med, med
    low, high = med.copy(), med.copy()
    for i, (medians, raw) in enumerate(zip(frame["pass_medians_s"], frame["samples_s"], strict=True)):
        samples = sample_list(raw)
        if len(medians) >= 2:
            low[i], high[i] = min(medians), max(medians)
        elif samples:
            low[i], high[i] = np.percentile(samples, [25, 75])
    return med, low, high


def _reference_slopes(ax: plt.Axes, anchor: tuple[float, float], x_max: float,
                      slopes: dict[float, str]) -> None:
    x0, y0 = anchor
    xs = np.array([x0, x_max])
    for (slope, label), style in zip(slopes.items(), (":", "-."), strict=False):
        ax.plot(xs, y0 * (xs / x0) ** slope, linestyle=style, color="grey", linewidth=1, label=label)


def _sweep_figures(df: pd.DataFrame, outdir: Path, axis: str, metric: str) -> list[Path]:
    """Metric against `axis`, one line per series, failures marked, per panel and coupling; a coupling is
    drawn where one of its series has a measured point, and its series without one get their marks."""
    relevant = df[df["status"].isin(("ok", *NOT_FITTING))]
    written = []
    what = "time" if metric == "median_s" else "memory"
    for panel, panel_series in _series_by_panel(relevant, axis):
        by_coupling: dict[str, list[Series]] = {}
        measured: set[str] = set()
        for series in panel_series:
            by_coupling.setdefault(series.coupling, []).append(series)
            if not _measured(series.frame, metric).empty:
                measured.add(series.coupling)
        for coupling, series_list in by_coupling.items():
            if coupling in measured:
                written.append(_sweep_figure(series_list, panel, axis, metric, coupling,
                                             outdir / f"{what}_vs_{axis}_{panel.slug(coupling)}.png"))
    return written


def _measured(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    return frame[(frame["status"] == "ok") & pd.to_numeric(frame[metric]).notna()]


def _labels(series_list: list[Series], axis: str | None = None) -> tuple[list[str], list[str]]:
    """The fixed values every series shares (for the title) and each series' legend label: its variant,
    causality and scope, the fixed values it does not share with the others, and (along `axis`) from which
    size each outcome left it unmeasured."""
    shared, own = shared_and_own([s.key.fixed for s in series_list])
    labels = []
    for series, extra in zip(series_list, own, strict=True):
        notes = setting_words(series.key.causal, series.key.scope) + extra
        if axis is not None:
            failed = series.frame[series.frame["status"].isin(NOT_FITTING)]
            notes.append(failure_note(failed.groupby("status")[axis].min().to_dict(), axis))
        labels.append(legend_label(series.key.variant, notes))
    return shared, labels


def _sweep_figure(series_list: list[Series], panel: Panel, axis: str, metric: str, coupling: str,
                  path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    scale = 1.0 if metric == "median_s" else 2.0 ** 20
    anchor, x_max, statuses, hollow = None, 0.0, set(), False
    shared, labels = _labels(series_list, axis)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    for index, (series, text) in enumerate(zip(series_list, labels, strict=True)):
        frame, key = series.frame, series.key
        ok = _measured(frame, metric)
        color = variant_color(key.variant)
        if not ok.empty:
            x = ok[axis].to_numpy(dtype=float)
            med, low, high = (v / scale for v in _spread(ok, metric))
            ax.plot(x, med, marker=marker(key.causal, key.scope), markersize=3, color=color,
                    linestyle=linestyle(key.causal), label=text)
            bound = (ok["overhead_bound"] == True).to_numpy()  # noqa: E712 (None is not bound)
            if metric == "median_s" and bound.any():
                hollow = True
                ax.scatter(x[bound], med[bound], s=40, facecolors="white", edgecolors=color, zorder=3)
            if metric == "median_s":
                ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
            if anchor is None or x[0] < anchor[0]:
                anchor = (x[0], med[0])
            x_max = max(x_max, float(x.max()))
        failed = frame[frame["status"].isin(NOT_FITTING)]
        if not failed.empty:
            statuses.update(failed["status"])
            height = 0.97 - 0.025 * (index % 8)
            ax.scatter(failed[axis].to_numpy(dtype=float), np.full(len(failed), height), marker="x",
                       color=color, transform=transform, clip_on=False, label=None if not ok.empty else text)
            x_max = max(x_max, float(failed[axis].max()))
    if anchor is not None:
        if axis == "seq_len" and coupling == "tokens":
            slopes = {0.0: "flat: linear layer at fixed B*N", 1.0: "slope 1: quadratic layer at fixed B*N"}
        elif axis == "batch":
            slopes = {1.0: "slope 1 (proportional)"}
        else:
            slopes = {1.0: "slope 1 (linear)", 2.0: "slope 2 (quadratic)"}
        _reference_slopes(ax, anchor, x_max, slopes)
    if statuses:
        words = ", ".join(STATUS_WORDS[s] for s in NOT_FITTING if s in statuses)
        ax.scatter([], [], marker="x", color="black", label=f"x at the top: not measured ({words})")
    if hollow:
        ax.scatter([], [], s=40, facecolors="white", edgecolors="black",
                   label="hollow: overhead-bound (left out of verdicts)")
    what = "Time per call" if metric == "median_s" else "Peak memory"
    _axes(ax, AXIS_LABELS[axis], TIME_LABEL if metric == "median_s" else MEMORY_LABEL,
          panel.title(f"{what} vs {AXIS_WORDS[axis]}", ", ".join(shared) or coupling), log_x=True)
    return save(fig, path)


def _axes(ax: plt.Axes, xlabel: str, ylabel: str, title: str, *, log_x: bool) -> None:
    """Log axes (base 2 along a swept size, its ticks as plain numbers), labels in words, the title, a grid
    and the legend."""
    if log_x:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    else:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)


def _speedup_figures(df: pd.DataFrame, outdir: Path, reference: str) -> list[Path]:
    """t_reference / t_variant against seq_len at matching configurations; above 1 means faster."""
    ok = df[(df["status"] == "ok") & pd.to_numeric(df["median_s"]).notna()]
    written = []
    for panel, panel_series in _series_by_panel(ok, "seq_len", by_model=False):
        lines: list[tuple[Series, str, pd.Index, pd.Series]] = []
        for series in panel_series:
            frame = series.frame
            ref = frame[(frame["model"] == reference) | (frame["variant"] == reference)]
            if ref.empty:
                continue
            ref_t = pd.to_numeric(ref["median_s"]).groupby(ref["seq_len"]).median()
            others = frame[~frame["model"].isin(set(ref["model"]))]
            for variant, rows_v in others.groupby("variant", sort=True):
                var_t = pd.to_numeric(rows_v["median_s"]).groupby(rows_v["seq_len"]).median()
                common = ref_t.index.intersection(var_t.index).sort_values()
                if len(common):
                    lines.append((series, str(variant), common, ref_t[common] / var_t[common]))
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 5))
        shared, own = shared_and_own([line[0].key.fixed for line in lines])
        for (series, variant, common, ratio), extra in zip(lines, own, strict=True):
            key = series.key
            notes = setting_words(key.causal, key.scope) + extra
            ax.plot(common.to_numpy(dtype=float), ratio.to_numpy(), marker=marker(key.causal, key.scope),
                    markersize=3, color=variant_color(variant), linestyle=linestyle(key.causal),
                    label=legend_label(variant, notes))
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label=f"same speed as {reference}")
        _axes(ax, AXIS_LABELS["seq_len"], f"speed-up over {reference} (its time per call / the variant's)",
              panel.title(f"Speed-up over {reference} vs sequence length", ", ".join(shared)), log_x=True)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
        written.append(save(fig, outdir / f"speedup_vs_{reference}_{panel.slug()}.png"))
    return written


def _flops_figures(df: pd.DataFrame, outdir: Path) -> list[Path]:
    """Counted (else analytic) FLOPs against measured median time, log-log, per panel."""
    ok = df[(df["status"] == "ok") & pd.to_numeric(df["flops_per_s"]).notna()]
    written = []
    panels: dict[Panel, list] = {}
    for index, row in ok.iterrows():
        panels.setdefault(Panel.of_row(row), []).append(index)
    for panel, index in sorted(panels.items(), key=lambda item: item[0]):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        rows = ok.loc[index].assign(_causal=ok.loc[index, "causal"].map(flag))
        for (variant, causal, scope), rows_v in rows.groupby(["variant", "_causal", "scope"], sort=True):
            time_s = pd.to_numeric(rows_v["median_s"]).to_numpy(dtype=float)
            work = pd.to_numeric(rows_v["flops_per_s"]).to_numpy(dtype=float) * time_s
            ax.scatter(work, time_s, s=14, color=variant_color(str(variant)), marker=marker(bool(causal), scope),
                       label=legend_label(str(variant), setting_words(bool(causal), scope)))
        _axes(ax, "work per call (FLOPs: counted, else analytic)", TIME_LABEL,
              panel.title("FLOPs vs measured time"), log_x=False)
        written.append(save(fig, outdir / f"flops_vs_time_{panel.slug()}.png"))
    return written


def _energy_figures(df: pd.DataFrame, outdir: Path) -> list[Path]:
    """Energy per token against seq_len (bench.analysis.energy), gross and net of idle power (dotted), one
    line per series (single points too), per panel; nothing without energy figures."""
    table = energy_table(df)
    if table.empty:
        return []
    panels: dict[Panel, list[Series]] = {}
    for series in iter_series(table, "seq_len", include_singletons=True):
        panels.setdefault(Panel.of(series.key), []).append(series)
    written = []
    for panel, series_list in sorted(panels.items(), key=lambda item: item[0]):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        shared, labels = _labels(series_list)
        for series, text in zip(series_list, labels, strict=True):
            key, frame = series.key, series.frame
            color = variant_color(key.variant)
            x = frame["seq_len"].to_numpy(dtype=float)
            ax.plot(x, frame["energy_j_per_token"].to_numpy(dtype=float), marker=marker(key.causal, key.scope),
                    markersize=3, color=color, linestyle=linestyle(key.causal), label=text)
            net = frame["energy_net_j_per_token"].to_numpy(dtype=float)
            shown = net > 0  # a log axis cannot show a net figure at or below zero
            if shown.any():
                ax.plot(x[shown], net[shown], linestyle=":", linewidth=1, color=color)
        ax.plot([], [], linestyle=":", linewidth=1, color="black", label="dotted: net of idle power")
        _axes(ax, AXIS_LABELS["seq_len"], "energy per token (J): per call / (B x N)",
              panel.title("Energy per token vs sequence length", ", ".join(shared)), log_x=True)
        written.append(save(fig, outdir / f"energy_vs_seq_len_{panel.slug()}.png"))
    return written


def make_plots(df: pd.DataFrame, outdir: str | Path) -> list[Path]:
    """Write every plot the data supports into `outdir` (created if needed), each a PNG with a PDF of the
    same name beside it; returns the PNG files written.

    `df` is a results table or its config_table: one point per configuration, its passes combined; the
    shaded band is the range of the passes' medians (the samples' IQR with one pass). A configuration that
    never ran is drawn with its series (bench.analysis.unmeasured).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if df.empty:
        return []
    df = fill_hardware(combined(df))
    written = _sweep_figures(df, out, "seq_len", "median_s")
    written += _sweep_figures(df, out, "seq_len", "peak_bytes")
    written += _sweep_figures(df, out, "batch", "median_s")
    written += _sweep_figures(df, out, "d_model", "median_s")
    written += _speedup_figures(df, out, "sdpa")
    written += _flops_figures(df, out)
    written += _energy_figures(df, out)
    return written
