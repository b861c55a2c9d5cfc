"""`run_bench.py selfcheck`: validate the timer, memory tracker and FLOP counter on this machine."""

from __future__ import annotations

import argparse

from bench.cli.common import EXIT_FAILURE, EXIT_OK, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `selfcheck` subcommand."""
    chk = sub.add_parser("selfcheck", help="validate the timer, memory tracker and FLOP counter here",
                         description="Check the measurement engine on this machine: timer vs "
                                     "torch.utils.benchmark, memory vs a known allocation, FLOP counter vs "
                                     "a matmul of known size, and on CUDA events vs a synchronised clock.",
                         epilog="example:\n  python run_bench.py selfcheck --device cuda",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device to check (default cpu)")
    chk.set_defaults(func=selfcheck_command)


def selfcheck_command(args: argparse.Namespace) -> int:
    import torch

    from bench.display.selfcheck import render_checks
    from bench.measure.selfcheck import run_selfcheck

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("selfcheck --device cuda: torch sees no CUDA device; use --device cpu")
    checks = run_selfcheck(args.device)
    print(render_checks(checks))
    return EXIT_OK if all(c.passed for c in checks) else EXIT_FAILURE
