"""A Markdown report of one run: the registered sections (bench.display.sections) in order under a title.

Every number printed comes from the results table, analysed once into a `ReportContext`; predictions
for skipped configurations appear only in the failures section and are labelled as predictions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.replicates import config_table
from bench.display.context import ReportContext
from bench.display.plots import make_plots
from bench.display.sections import registered


def render_report(df: pd.DataFrame, environments: dict, *, run_id: str, command: str, plots: list[Path],
                  outdir: str | Path, time_scaling: pd.DataFrame | None = None,
                  configs: pd.DataFrame | None = None) -> str:
    """The report as Markdown: the title, then every registered section in order; `plots` are embedded
    with links relative to `outdir`. `time_scaling` and `configs`, when given, are the already computed
    `scaling_table(df, "seq_len", "median_s")` and `config_table(df)`, so they are not computed twice.
    """
    ctx = ReportContext.build(df, environments, run_id=run_id, command=command, plots=plots, outdir=outdir,
                              time_scaling=time_scaling, configs=configs)
    parts = [f"# attnbench report: run {run_id}", *(s.render(ctx) for s in registered())]
    return "\n\n".join(parts) + "\n"


def write_report(df: pd.DataFrame, environments: dict, outdir: str | Path, *, run_id: str, command: str,
                 time_scaling: pd.DataFrame | None = None, configs: pd.DataFrame | None = None) -> Path:
    """Draw the plots into outdir/plots and write outdir/report.md; returns the report's path. The passes
    are combined once (`config_table`) for the plots and every section."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    configs = config_table(df) if configs is None else configs
    plots = make_plots(configs, out / "plots")
    path = out / "report.md"
    path.write_text(render_report(df, environments, run_id=run_id, command=command, plots=plots, outdir=out,
                                  time_scaling=time_scaling, configs=configs))
    return path
