#!/usr/bin/env python3
"""attnbench command line (bench.cli): `python run_bench.py --help` lists the subcommands."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
