"""The self-check text: a table of the instrument checks with their verdicts, then the tally."""

from __future__ import annotations

from bench.display.selfcheck import render_checks
from bench.measure.check import Check


def test_the_table_shows_each_check_verdict_and_the_pass_count():
    checks = [Check("timer", 1.0e-3, 1.1e-3, 0.909, True, "s/call"),
              Check("memory", 50.0, 100.0, 0.5, False, "bytes")]
    lines = render_checks(checks).splitlines()
    assert lines[0].split() == ["verdict", "check", "measured", "expected", "ratio", "detail"]
    assert lines[1].split() == ["PASS", "timer", "0.001", "0.0011", "0.9090", "s/call"]
    assert lines[2].split() == ["FAIL", "memory", "50", "100", "0.5000", "bytes"]
    assert lines[-1] == "1/2 checks passed"


def test_no_checks_is_an_empty_table():
    assert render_checks([]).splitlines() == ["verdict  check  measured  expected  ratio  detail", "0/0 checks passed"]
