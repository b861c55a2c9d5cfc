"""Figures of a results table as PNG files: time and memory against sequence length, batch and width,
speed-up over SDPA, counted work against measured time, and energy per token against sequence length.

One figure per `Panel` (device, hardware, dtype, mode: a series' identity less causality and scope)
and, along seq_len, per coupling (fixed batch or fixed tokens). Lines are medians with an interquartile
band (from the raw samples when present); configurations that ran out of memory, timed out or were
skipped are marked with an x along the top edge at their length, since no value was measured for them.
Plots without data are not written.
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
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from bench.analysis.energy import energy_table  # noqa: E402
from bench.analysis.replicates import combined  # noqa: E402
from bench.analysis.series import Series, iter_series, sample_list  # noqa: E402
from bench.results.identity import HARDWARE_FIELD, ConfigKey, SeriesKey  # noqa: E402
from bench.results.record import NOT_FITTING  # noqa: E402

AXIS_LABELS = {"seq_len": "sequence length N (tokens)", "batch": "batch size B", "d_model": "model width d"}
DPI = 100


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


def _colors(df: pd.DataFrame) -> dict[str, tuple]:
    variants = sorted(df["variant"].astype(str).unique())
    cmap = plt.get_cmap("tab10" if len(variants) <= 10 else "tab20")
    return {v: cmap(i % cmap.N) for i, v in enumerate(variants)}


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
    for (slope, label), style in zip(slopes.items(), (":", "--", "-."), strict=False):
        ax.plot(xs, y0 * (xs / x0) ** slope, linestyle=style, color="grey", linewidth=1, label=label)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _sweep_figures(df: pd.DataFrame, outdir: Path, axis: str, metric: str) -> list[Path]:
    """Metric against `axis`, one line per series, failures marked, per panel and coupling."""
    relevant = df[df["status"].isin(("ok", *NOT_FITTING))]
    colors = _colors(df)
    written = []
    what = "time" if metric == "median_s" else "memory"
    for panel, panel_series in _series_by_panel(relevant, axis):
        by_coupling: dict[str, list[Series]] = {}
        for series in panel_series:
            ok = series.frame[(series.frame["status"] == "ok") & pd.to_numeric(series.frame[metric]).notna()]
            if not ok.empty:
                by_coupling.setdefault(series.coupling, []).append(series)
        for coupling, series_list in by_coupling.items():
            written.append(_sweep_figure(series_list, panel, axis, metric, coupling, colors,
                                         outdir / f"{what}_vs_{axis}_{panel.slug(coupling)}.png"))
    return written


def _sweep_figure(series_list: list[Series], panel: Panel, axis: str, metric: str, coupling: str,
                  colors: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    variants = [s.key.variant for s in series_list]
    scale = 1.0 if metric == "median_s" else 2.0 ** 20
    anchor, x_max, marked, hollow = None, 0.0, False, False
    for index, series in enumerate(series_list):
        frame = series.frame
        ok = frame[(frame["status"] == "ok") & pd.to_numeric(frame[metric]).notna()]
        color = colors[series.key.variant]
        label = series.key.variant
        if variants.count(label) > 1:
            label += f" ({series.fixed_label})"
        if not ok.empty:
            x = ok[axis].to_numpy(dtype=float)
            med, low, high = (v / scale for v in _spread(ok, metric))
            ax.plot(x, med, marker="o", markersize=3, color=color, label=label)
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
            marked = True
            transform = blended_transform_factory(ax.transData, ax.transAxes)
            height = 0.97 - 0.025 * (index % 8)
            ax.scatter(failed[axis].to_numpy(dtype=float), np.full(len(failed), height), marker="x",
                       color=color, transform=transform, clip_on=False)
            x_max = max(x_max, float(failed[axis].max()))
    if anchor is not None:
        if axis == "seq_len" and coupling == "tokens":
            slopes = {0.0: "flat: linear layer at fixed B*N", 1.0: "slope 1: quadratic layer at fixed B*N"}
        elif axis == "batch":
            slopes = {1.0: "slope 1 (proportional)"}
        else:
            slopes = {1.0: "slope 1 (linear)", 2.0: "slope 2 (quadratic)"}
        _reference_slopes(ax, anchor, x_max, slopes)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("median time per call (s)" if metric == "median_s" else "peak activation memory (MiB)")
    fixed = series_list[0].fixed_label if len(set(s.fixed_label for s in series_list)) == 1 else coupling
    what = "Time" if metric == "median_s" else "Peak memory"
    ax.set_title(panel.title(f"{what} vs {axis}", fixed), fontsize=10)
    if marked:
        ax.scatter([], [], marker="x", color="black", label="x: oom / timeout / skipped (not measured)")
    if hollow:
        ax.scatter([], [], s=40, facecolors="white", edgecolors="black",
                   label="hollow: overhead-bound (left out of verdicts)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _speedup_figures(df: pd.DataFrame, outdir: Path, reference: str) -> list[Path]:
    """t_reference / t_variant against seq_len at matching configurations; above 1 means faster."""
    ok = df[(df["status"] == "ok") & pd.to_numeric(df["median_s"]).notna()]
    colors = _colors(df)
    written = []
    for panel, panel_series in _series_by_panel(ok, "seq_len", by_model=False):
        lines = []
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
                    lines.append((variant, series.fixed_label, common, ref_t[common] / var_t[common]))
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 5))
        names = [line[0] for line in lines]
        for variant, fixed, common, ratio in lines:
            label = variant if names.count(variant) == 1 else f"{variant} ({fixed})"
            ax.plot(common.to_numpy(dtype=float), ratio.to_numpy(), marker="o", markersize=3,
                    color=colors[variant], label=label)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label=f"same speed as {reference}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(AXIS_LABELS["seq_len"])
        ax.set_ylabel(f"speed-up over {reference} (t_{reference} / t_variant)")
        ax.set_title(panel.title(f"Speed-up over {reference} vs seq_len"), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / f"speedup_vs_{reference}_{panel.slug()}.png"))
    return written


def _flops_figures(df: pd.DataFrame, outdir: Path) -> list[Path]:
    """Counted (else analytic) FLOPs against measured median time, log-log, per panel."""
    ok = df[(df["status"] == "ok") & pd.to_numeric(df["flops_per_s"]).notna()]
    colors = _colors(df)
    written = []
    panels: dict[Panel, list] = {}
    for index, row in ok.iterrows():
        panels.setdefault(Panel.of_row(row), []).append(index)
    for panel, index in sorted(panels.items(), key=lambda item: item[0]):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        for variant, rows_v in ok.loc[index].groupby("variant", sort=True):
            time_s = pd.to_numeric(rows_v["median_s"]).to_numpy(dtype=float)
            work = pd.to_numeric(rows_v["flops_per_s"]).to_numpy(dtype=float) * time_s
            ax.scatter(work, time_s, s=14, color=colors[variant], label=variant)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("work per call (FLOPs: counted, else analytic)")
        ax.set_ylabel("median time per call (s)")
        ax.set_title(panel.title("FLOPs vs measured time"), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / f"flops_vs_time_{panel.slug()}.png"))
    return written


def _energy_figures(df: pd.DataFrame, outdir: Path) -> list[Path]:
    """Energy per token against seq_len (bench.analysis.energy), gross solid and net of idle power dashed,
    one line per series (single points too), per panel; nothing without energy figures."""
    table = energy_table(df)
    if table.empty:
        return []
    colors = _colors(table)
    panels: dict[Panel, list[Series]] = {}
    for series in iter_series(table, "seq_len", include_singletons=True):
        panels.setdefault(Panel.of(series.key), []).append(series)
    written = []
    for panel, series_list in sorted(panels.items(), key=lambda item: item[0]):
        fig, ax = plt.subplots(figsize=(7.5, 5))
        variants = [s.key.variant for s in series_list]
        for series in series_list:
            variant, frame = series.key.variant, series.frame
            label = variant if variants.count(variant) == 1 else f"{variant} ({series.fixed_label})"
            x = frame["seq_len"].to_numpy(dtype=float)
            ax.plot(x, frame["energy_j_per_token"].to_numpy(dtype=float), marker="o", markersize=3,
                    color=colors[variant], label=label)
            net = frame["energy_net_j_per_token"].to_numpy(dtype=float)
            shown = net > 0  # a log axis cannot show a net figure at or below zero
            if shown.any():
                ax.plot(x[shown], net[shown], linestyle="--", linewidth=1, color=colors[variant])
        ax.plot([], [], linestyle="--", linewidth=1, color="black", label="dashed: net of idle power")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(AXIS_LABELS["seq_len"])
        ax.set_ylabel("energy per token (J): per call / (B x N)")
        ax.set_title(panel.title("Energy per token vs seq_len"), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
        written.append(_save(fig, outdir / f"energy_vs_seq_len_{panel.slug()}.png"))
    return written


def make_plots(df: pd.DataFrame, outdir: str | Path) -> list[Path]:
    """Write every plot the data supports into `outdir` (created if needed); returns the files written.

    `df` is a results table or its config_table: one point per configuration, its passes combined; the
    shaded band is the range of the passes' medians (the samples' IQR with one pass).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if df.empty:
        return []
    df = combined(df)
    written = _sweep_figures(df, out, "seq_len", "median_s")
    written += _sweep_figures(df, out, "seq_len", "peak_bytes")
    written += _sweep_figures(df, out, "batch", "median_s")
    written += _sweep_figures(df, out, "d_model", "median_s")
    written += _speedup_figures(df, out, "sdpa")
    written += _flops_figures(df, out)
    written += _energy_figures(df, out)
    return written
