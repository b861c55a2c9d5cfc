"""`run_bench.py list-models`: every registered layer with its description and options."""

from __future__ import annotations

import argparse

from bench.cli.common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `list-models` subcommand."""
    lst = sub.add_parser("list-models", help="list every registered model with its options",
                         description="Every registered attention layer with a one-line description and "
                                     "its options (name = default).")
    lst.set_defaults(func=list_models_command)


def list_models_command(args: argparse.Namespace) -> int:
    import models

    for name in models.available():
        info = models.describe(name)
        causal = "" if info.supports_causal else " (no causal form)"
        print(f"{name}: {info.description}{causal}")
        for option, (default, help_text) in info.options.items():
            print(f"    {option} = {default!r}  {help_text}")
    print("Also: package.module:ClassName loads your own layer that follows the same contract.")
    return EXIT_OK
