"""Display sits above analysis and below the CLI: importing it must not import torch (or measure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_display_imports_without_torch():
    code = ("import sys, bench.display.report, bench.display.summary, bench.display.compare, "
            "bench.display.selfcheck; assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
