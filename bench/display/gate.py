"""The gate's report as text: one row per check, failures first, then the notes and the verdict line."""

from __future__ import annotations

from bench.config.units import format_seconds
from bench.display.table import text_table
from bench.gate.verdict import KINDS, STATUSES, CheckResult, GateReport

HEADERS = ("STATUS", "CHECK", "SUBJECT", "METRIC", "BASELINE", "NOW", "CHANGE", "WHY")


def render_gate_report(report: GateReport, *, show_passed: bool = True) -> str:
    """A plain-text table, failures first: what moved, by how much, and why it counts or was skipped."""
    order = {s: i for i, s in enumerate(STATUSES)}
    kinds = {k: i for i, k in enumerate(KINDS)}
    shown = [c for c in report.checks if show_passed or c.status != "pass"]
    shown.sort(key=lambda c: (order[c.status], kinds[c.kind], c.subject, c.metric))
    table = text_table(HEADERS, [(c.status.upper(), c.kind, c.subject, c.metric, _value(c, c.baseline),
                                  _value(c, c.current), _change(c), c.reason) for c in shown], sep="  ")
    counts = report.counts()
    failures = report.failures
    by_kind = ", ".join(f"{sum(c.kind == k for c in failures)} {k}" for k in KINDS
                        if any(c.kind == k for c in failures))
    verdict = (f"GATE PASSED: no regression ({counts['pass']} passed, {counts['skipped']} skipped)"
               if report.passed else
               f"GATE FAILED: {counts['fail']} regression(s) ({by_kind}); {counts['pass']} passed, "
               f"{counts['skipped']} skipped")
    hidden = "" if show_passed else f" ({counts['pass']} passing checks not shown)"
    return "\n".join([table, "", *(f"note: {n}" for n in report.notes), verdict + hidden])


def _value(check: CheckResult, value: float | None) -> str:
    if value is None:
        return "-"
    if check.metric.endswith("exponent"):
        return f"{value:.2f}"
    if check.kind == "crossover":
        return f"N={value:.0f}"
    if check.kind == "relative":
        return f"{value:.3g}x"
    return format_seconds(value)


def _change(check: CheckResult) -> str:
    if check.change is None:
        return "-"
    if check.metric.endswith("exponent"):
        return f"{check.change:+.2f}"
    if check.kind == "crossover":
        return f"x{1 + check.change:.2g}"
    return f"{check.change:+.0%}"
