"""`run_bench.py gate`: check results against a baseline (exit 0 pass, 1 regression, 2 bad input), or
write the baseline from them with --update-baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, with_declared_complexity

if TYPE_CHECKING:
    import pandas as pd


def run(args: argparse.Namespace) -> int:
    """Gate `args.results` against `args.baseline` under `args.policy` (None: the default policy), or
    write the baseline from them when `args.update_baseline`; print the report or the error."""
    for path in args.results:
        if not Path(path).is_file():
            print(f"error: results file {path} does not exist", file=sys.stderr)
            return EXIT_BAD_INPUT
    from bench.gate import GateError
    from bench.results.store import StorageError

    try:
        return _update_baseline(args) if args.update_baseline else _gate(args)
    except (GateError, StorageError, OSError) as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _results(args: argparse.Namespace) -> pd.DataFrame:
    """The results files as one table, with declared complexity filled in for files that predate it."""
    from bench.results.table import load_results

    return with_declared_complexity(load_results(args.results))


def _gate(args: argparse.Namespace) -> int:
    from bench.display.gate import render_gate_report
    from bench.gate import load_baseline, load_policy, run_gate

    policy = load_policy(args.policy)
    baseline = load_baseline(args.baseline)
    report = run_gate(_results(args), baseline, policy)
    print(render_gate_report(report))
    return EXIT_OK if report.passed else EXIT_FAILURE


def _update_baseline(args: argparse.Namespace) -> int:
    from bench.gate import load_policy, make_baseline, save_baseline

    policy = load_policy(args.policy)
    baseline = make_baseline(_results(args), policy)
    save_baseline(args.baseline, baseline)
    n_ratios = sum(entry["ratio"] is not None for entry in baseline.configurations.values())
    print(f"wrote baseline {args.baseline}: {len(baseline.configurations)} configuration(s) "
          f"({n_ratios} with a ratio to {baseline.reference}), {len(baseline.scaling)} scaling series, "
          f"{len(baseline.crossovers)} crossover(s), hardware {baseline.hardware_key or 'unknown'}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gate` subcommand."""
    gate = sub.add_parser("gate", help="fail when a run regressed against a stored baseline",
                          description="Compare a run with a baseline: scaling exponents and crossovers, "
                                      "speed relative to a reference measured in the same run (with a "
                                      "significance test), and absolute time when the hardware matches. "
                                      "Exit 1 on regression.",
                          epilog="examples:\n"
                                 "  python run_bench.py gate --baseline ci/baseline.json run/results.jsonl\n"
                                 "  python run_bench.py gate --update-baseline --baseline ci/baseline.json "
                                 "run/results.jsonl",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.add_argument("results", nargs="+", help="results.jsonl file(s) of the run to check")
    gate.add_argument("--baseline", required=True, help="baseline JSON file")
    gate.add_argument("--policy", help="gate policy TOML (default: bench/gate/gate_policy.toml)")
    gate.add_argument("--update-baseline", action="store_true", help="write the baseline from these results "
                                                                     "instead of checking")
    gate.set_defaults(func=run)
