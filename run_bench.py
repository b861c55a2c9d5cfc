#!/usr/bin/env python3
"""attnbench command line (bench.cli); its root first on the path, the working directory last (models.registry)."""
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [_ROOT, *(p for p in sys.path if p not in ("", os.getcwd(), _ROOT)), os.getcwd()]
from bench.cli import main  # noqa: E402 - after the import path is set

if __name__ == "__main__":
    sys.exit(main())
