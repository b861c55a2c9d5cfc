"""`run_bench.py gate`: check results against a baseline (exit 0 pass, 1 regression, 2 bad input), or
write the baseline from them with --update-baseline."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bench.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    results_argument,
    with_declared_complexity,
)

if TYPE_CHECKING:
    import pandas as pd

    from bench.gate import Baseline, GatePolicy


def run(args: argparse.Namespace) -> int:
    """Gate `args.results` against `args.baseline` under `args.policy` (None: the default policy), or
    write the baseline from them when `args.update_baseline`; print the report or the error."""
    try:
        args.results = [str(results_argument(path)) for path in args.results]
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
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


def _known_names(df: pd.DataFrame, baseline: Baseline | None) -> set[str]:
    """Names a policy may use: the registered models and every model and variant in the run and baseline."""
    import models

    known = set(models.available()) | {str(v) for column in ("model", "variant") for v in df[column].dropna()}
    if baseline is not None:
        known |= {entry[field] for entry in baseline.configurations.values() for field in ("model", "variant")}
    return known


def _check_names(args: argparse.Namespace, policy: GatePolicy, df: pd.DataFrame, baseline: Baseline | None) -> None:
    """Every model name in the policy must be one this gate knows (a typo would silently match nothing)."""
    from bench.gate import DEFAULT_POLICY_PATH

    policy.check_names(_known_names(df, baseline), str(args.policy or DEFAULT_POLICY_PATH))


def _gate(args: argparse.Namespace) -> int:
    from bench.display.gate import render
    from bench.gate import load_baseline, load_policy, run_gate

    policy = load_policy(args.policy)
    baseline = load_baseline(args.baseline)
    df = _results(args)
    _check_names(args, policy, df, baseline)
    report = run_gate(df, baseline, policy)
    print(render(report, args.format))
    return EXIT_OK if report.passed else EXIT_FAILURE


def _update_baseline(args: argparse.Namespace) -> int:
    from bench.gate import load_policy, make_baseline, save_baseline

    policy = load_policy(args.policy)
    df = _results(args)
    _check_names(args, policy, df, None)
    baseline = make_baseline(df, policy)
    save_baseline(args.baseline, baseline)
    n_ratios = sum(entry["ratio"] is not None for entry in baseline.configurations.values())
    print(f"wrote baseline {args.baseline}: {len(baseline.configurations)} configuration(s) "
          f"({n_ratios} with a ratio to {baseline.reference}), {len(baseline.scaling)} scaling series, "
          f"{len(baseline.crossovers)} crossover(s), hardware {baseline.hardware_key or 'unknown'}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gate` subcommand."""
    gate = sub.add_parser("gate", help="fail when a run regressed against a stored baseline",
                          description="Compare a run with a baseline: every configuration's status, scaling "
                                      "exponents (bound and rise) and crossovers, speed relative to a "
                                      "reference measured in the same run (tested on pass medians), time "
                                      "normalised by the machine-speed probe, and the median change of all "
                                      "layers. Give two runs' results to require a failure in both. Exit 0 "
                                      "pass, 1 regression, 2 bad input. bench/gate/__init__.py documents "
                                      "every rule, bench/gate/gate_policy.toml every setting.",
                          epilog="examples:\n"
                                 "  python run_bench.py gate --baseline ci/baseline.json a/results.jsonl "
                                 "b/results.jsonl\n"
                                 "  python run_bench.py gate --format junit --baseline ci/baseline.json "
                                 "a/results.jsonl > gate.xml\n"
                                 "  python run_bench.py gate --update-baseline --baseline ci/baseline.json "
                                 "r1/results.jsonl r2/results.jsonl r3/results.jsonl",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.add_argument("results", nargs="+", help="results.jsonl file(s) of the run to check")
    gate.add_argument("--baseline", required=True, help="baseline JSON file")
    gate.add_argument("--policy", help="gate policy TOML (default: bench/gate/gate_policy.toml)")
    gate.add_argument("--update-baseline", action="store_true", help="write the baseline from these results "
                                                                     "instead of checking")
    from bench.display.gate import FORMATS

    gate.add_argument("--format", choices=FORMATS, default="text",
                      help="report format: text (failures first, at most 120 columns; default), json (every "
                           "check as data) or junit (JUnit XML for CI test reports)")
    gate.set_defaults(func=run)
