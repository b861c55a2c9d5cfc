"""`run_bench.py report`: re-render report.md and its plots from a stored results file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.common import EXIT_OK, LoadedResults, UsageError, load_results_file, results_argument

if TYPE_CHECKING:
    import pandas as pd


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    rep = sub.add_parser("report", help="re-render a report from stored results",
                         description="Re-render report.md and plots from a results file; with --csv "
                                     "also write the results as results.csv beside report.md.",
                         epilog="examples:\n  python run_bench.py report reports/quick-cpu/results.jsonl\n"
                                "  python run_bench.py report reports/quick-cpu --csv --out /tmp/quick",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("results", help="a results.jsonl file, or a run's folder holding one")
    rep.add_argument("--out", help="folder for the report (default: the results file's folder)")
    rep.add_argument("--csv", action="store_true",
                     help="also write results.csv there: one row per configuration and pass, every column of "
                          "the results table but the raw samples (bench/results/export.py lists them)")
    rep.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    results = results_argument(args.results)
    outdir = Path(args.out) if args.out else results.parent
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"--out {outdir} is a file; give a folder for report.md and its plots")
    loaded = load_results_file(results)
    print(f"report: {render_report_files(loaded, outdir)}")
    if args.csv:
        from bench.results.export import CSV_NAME, write_csv

        print(f"csv: {write_csv(loaded.table, outdir / CSV_NAME)}")
    return EXIT_OK


def render_report_files(loaded: LoadedResults, outdir: Path, time_scaling: pd.DataFrame | None = None,
                        configs: pd.DataFrame | None = None) -> Path:
    """Write outdir/report.md and its plots; `time_scaling` (the seq_len time fit) and `configs` (the
    config_table) are passed when already computed."""
    from bench.display.report import write_report

    df = loaded.table
    return write_report(df, loaded.environments, outdir, run_id=str(df["run_id"].iloc[0]) if len(df) else "",
                        command=loaded.command, time_scaling=time_scaling, configs=configs)
