"""attnbench command line: sweep attention layers, report how they scale, gate speed regressions.

Run without arguments to measure the default `quick` sweep and write a report. Exit codes: 0 ok,
1 a measured failure (a configuration crashed, or the gate found a regression), 2 bad input.
Each subcommand is one module of this package with `register(subparsers)`; printing and exit codes
live only here.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bench.cli import compare, gate, list_models, report, run, selfcheck
from bench.cli.common import EXIT_BAD_INPUT, UsageError

COMMANDS = (run, report, compare, list_models, selfcheck, gate)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of COMMANDS."""
    prog = "attnbench" if Path(sys.argv[0]).name == "attnbench" else "run_bench.py"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\nEach subcommand")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def join_negative_values(argv: list[str]) -> list[str]:
    """`--max-memory -1GiB` as `--max-memory=-1GiB`: argparse takes a value that starts with a dash and is
    not a plain number for a flag, and would say the option "expected one argument" instead of what is
    wrong with the value. No option of this tool is a dash and a digit."""
    joined: list[str] = []
    for token in argv:
        if joined and re.match(r"-\d", token) and joined[-1].startswith("--") and "=" not in joined[-1]:
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand (default `run quick`); the exit code."""
    argv = join_negative_values(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    argv = argv if argv else ["run", "quick"]
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; continue with run --resume", file=sys.stderr)
        return 130
