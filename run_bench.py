#!/usr/bin/env python3
"""attnbench command line (bench.cli): `python run_bench.py --help` lists the subcommands."""

import os
import sys

# This tool's own `bench` and `models` come first, and the current directory last: a project with its own
# `models` or `bench` package (run as `python -m run_bench` from it) must not shadow them. Its layers are
# still found from the current directory (models.registry).
_ROOT = os.path.dirname(os.path.abspath(__file__))
_HERE = {"", os.getcwd()}
sys.path[:] = [_ROOT, *(p for p in sys.path if p not in _HERE and os.path.abspath(p) != _ROOT), os.getcwd()]

from bench.cli import main  # noqa: E402 - after the import path is set

if __name__ == "__main__":
    sys.exit(main())
