"""The text of the instrument self-check (bench.measure.selfcheck): one check per line, then the tally."""

from __future__ import annotations

from collections.abc import Sequence

from bench.display.table import text_table
from bench.measure.check import Check

HEADERS = ("verdict", "check", "measured", "expected", "ratio", "detail")


def render_checks(checks: Sequence[Check]) -> str:
    """A plain-text table of the checks (verdict, name, measured vs expected, ratio, what was compared),
    with a final count of passes."""
    rows = [("PASS" if c.passed else "FAIL", c.name, f"{c.measured:.6g}", f"{c.expected:.6g}",
             f"{c.ratio_or_error:.4f}", c.detail) for c in checks]
    passed = sum(c.passed for c in checks)
    return text_table(HEADERS, rows) + f"\n{passed}/{len(checks)} checks passed"
