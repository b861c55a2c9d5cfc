"""`run_bench.py compare`: two runs side by side, configuration by configuration."""

from __future__ import annotations

import argparse

from bench.cli.common import EXIT_OK, UsageError, load_results_file, results_argument


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `compare` subcommand."""
    cmp_ = sub.add_parser("compare", help="show two runs side by side",
                          description="Join the configurations two runs share and show medians, ratio "
                                      "B/A and whether the change is beyond noise (Mann-Whitney U). Runs on "
                                      "different hardware are refused unless --force.",
                          epilog="example:\n  python run_bench.py compare old/results.jsonl new/results.jsonl",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_.add_argument("a", help="results.jsonl of run A (the reference)")
    cmp_.add_argument("b", help="results.jsonl of run B")
    cmp_.add_argument("--force", action="store_true", help="compare even across different hardware")
    cmp_.set_defaults(func=compare_command)


def compare_command(args: argparse.Namespace) -> int:
    from bench.analysis.compare import CompareError, compare
    from bench.display.compare import render_comparison

    a, b = (load_results_file(results_argument(path)).table for path in (args.a, args.b))
    try:
        result = compare(a, b, force=args.force)
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    print(render_comparison(result))
    return EXIT_OK
