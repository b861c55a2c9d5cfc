"""Analysis is pure numbers on tables: importing it must not import torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_analysis_imports_without_torch():
    code = ("import sys, bench.analysis.scaling, bench.analysis.claims, bench.analysis.compare; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
