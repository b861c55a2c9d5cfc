"""`run_bench.py compare`: two runs side by side, configuration by configuration."""

from __future__ import annotations

import argparse

from bench.cli.common import EXIT_OK, UsageError, load_results_file, results_argument


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `compare` subcommand."""
    cmp_ = sub.add_parser("compare", help="show two runs side by side",
                          description="Join the configurations two runs share and show medians, ratio "
                                      "B/A and whether the change is beyond noise: a configuration is slower "
                                      "or faster only when the Mann-Whitney U test gives p < 0.01 and B/A "
                                      "moves by more than the minimum effect. A first line gives the "
                                      "machine's speed, the median B/A over all configurations; when it moved "
                                      "by more than the minimum effect, each ratio is also shown relative to "
                                      "it. Runs on different hardware are refused unless --force.",
                          epilog="examples:\n  python run_bench.py compare old/results.jsonl new/results.jsonl\n"
                                 "  python run_bench.py compare old new --min-effect 10%",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_.add_argument("a", help="results.jsonl of run A (the reference)")
    cmp_.add_argument("b", help="results.jsonl of run B")
    cmp_.add_argument("--force", action="store_true", help="compare even across different hardware")
    cmp_.add_argument("--min-effect", default="5%", metavar="FRACTION",
                      help="smallest move of B/A called a change, as a percentage or a fraction: 5%% or 0.05 "
                           "(default 5%%; 0 calls every significant difference a change)")
    cmp_.set_defaults(func=compare_command)


def min_effect(text: str) -> float:
    """'5%' or '0.05' -> 0.05; anything else (negative, not a number, '5' meaning 500 %) is a UsageError."""
    given = str(text).strip()
    try:
        value = float(given[:-1]) / 100 if given.endswith("%") else float(given)
    except ValueError:
        raise UsageError(f"--min-effect {text!r} is not a percentage or a fraction; write e.g. 5% or 0.05") from None
    if not 0 <= value < float("inf"):
        raise UsageError(f"--min-effect {text} must be 0 or more, e.g. 5% or 0.05")
    if value >= 1 and not given.endswith("%"):
        raise UsageError(f"--min-effect {text} would be a {value * 100:.0f} % change; write {text}% for "
                         f"{text} per cent, or a fraction such as 0.05")
    return value


def compare_command(args: argparse.Namespace) -> int:
    from bench.analysis.compare import CompareError, compare
    from bench.display.compare import render_comparison

    effect = min_effect(args.min_effect)
    a, b = (load_results_file(results_argument(path)).table for path in (args.a, args.b))
    try:
        result = compare(a, b, force=args.force, min_effect=effect)
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    print(render_comparison(result))
    return EXIT_OK
