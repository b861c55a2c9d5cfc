"""The gate's report as text, JSON or JUnit XML.

Text: failures first, then warnings, then skipped checks condensed by reason, a count of the passed
ones, the notes and a one-line verdict last; every line at most WIDTH columns. JSON: every check with
its key as plain data. JUnit: one testcase per check, failures as <failure>, skipped as <skipped>,
warnings as passing cases with the warning in <system-out>, for CI systems that display test reports.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

from bench.config.units import format_seconds
from bench.gate.verdict import KINDS, STATUSES, CheckResult, GateReport

WIDTH = 120
FORMATS = ("text", "json", "junit")
_INDENT = " " * 20
_SHOWN_SUBJECTS = 2


def render(report: GateReport, fmt: str = "text") -> str:
    """The report in one of FORMATS."""
    return {"text": render_gate_report, "json": render_json, "junit": render_junit}[fmt](report)


def _by_kind(checks: list[CheckResult]) -> str:
    """How many of `checks` each kind has, e.g. "2 relative, 1 status"."""
    return ", ".join(f"{sum(c.kind == k for c in checks)} {k}" for k in KINDS if any(c.kind == k for c in checks))


def verdict_line(report: GateReport) -> str:
    """The last line: GATE PASSED or GATE FAILED, with the counts."""
    counts = report.counts()
    rest = f"{counts['warn']} warning(s), {counts['pass']} passed, {counts['skipped']} skipped"
    if report.passed:
        return f"GATE PASSED: no regression ({rest})"
    return f"GATE FAILED: {counts['fail']} regression(s) ({_by_kind(report.failures)}); {rest}"


def _order(check: CheckResult) -> tuple:
    return STATUSES.index(check.status), KINDS.index(check.kind), check.subject, check.metric


def _wrap(text: str, first: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=_INDENT, break_on_hyphens=False)


def _check_lines(check: CheckResult) -> list[str]:
    head = f"{check.status.upper():<8} {check.kind:<10} "
    values = ""
    if check.baseline is not None or check.current is not None:
        values = f": {_value(check, check.baseline)} -> {_value(check, check.current)}"
    if check.change is not None:
        values += f" ({_change(check)})"
    return [*_wrap(f"{check.subject}, {check.metric}{values}", head), *_wrap(check.reason, _INDENT)]


def render_gate_report(report: GateReport) -> str:
    """Plain text, failures first and the verdict last (see the module docstring)."""
    checks = sorted(report.checks, key=_order)
    lines: list[str] = []
    for check in checks:
        if check.status in ("fail", "warn"):
            lines += _check_lines(check)
    skipped: dict[tuple[str, str], list[CheckResult]] = {}
    for check in checks:
        if check.status == "skipped":
            skipped.setdefault((check.kind, check.reason), []).append(check)
    for (kind, reason), group in skipped.items():
        if len(group) == 1:
            lines += _check_lines(group[0])
            continue
        shown = "; ".join(c.subject for c in group[:_SHOWN_SUBJECTS])
        more = f" and {len(group) - _SHOWN_SUBJECTS} more" if len(group) > _SHOWN_SUBJECTS else ""
        lines += [*_wrap(f"{len(group)} checks: {shown}{more}", f"{'SKIPPED':<8} {kind:<10} "),
                  *_wrap(reason, _INDENT)]
    passed = [c for c in checks if c.status == "pass"]
    if passed:
        lines += _wrap(f"{len(passed)} checks: {_by_kind(passed)} (--format json lists every check)",
                       f"{'PASSED':<8} {'':<10} ")
    lines += [line for note in report.notes for line in _wrap(note, "note: ")]
    return "\n".join([*lines, verdict_line(report)])


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
    if check.metric.endswith("exponent"):
        return f"{check.change:+.2f}"
    if check.kind == "crossover":
        return f"x{1 + check.change:.2g}"
    return f"{check.change:+.0%}"


def _key(check: CheckResult) -> dict | None:
    key = check.key
    if key is None:
        return None
    if isinstance(key, tuple):
        return {"series": key[0].to_dict(), "variant": key[1], "reference": key[2]}
    return key.to_dict()


def render_json(report: GateReport) -> str:
    """Every check as plain JSON: {"passed", "verdict", "counts", "notes", "checks": [...]}."""
    checks = [{"kind": c.kind, "status": c.status, "subject": c.subject, "metric": c.metric, "baseline": c.baseline,
               "current": c.current, "change": c.change, "threshold": c.threshold, "q_value": c.q_value,
               "reason": c.reason, "key": _key(c)} for c in sorted(report.checks, key=_order)]
    return json.dumps({"passed": report.passed, "verdict": verdict_line(report), "counts": report.counts(),
                       "notes": report.notes, "checks": checks}, indent=1, allow_nan=False)


def render_junit(report: GateReport) -> str:
    """JUnit XML: one <testcase> per check in one <testsuite> named attnbench-gate."""
    counts = report.counts()
    suites = ET.Element("testsuites", name="attnbench-gate")
    suite = ET.SubElement(suites, "testsuite", name="attnbench-gate", tests=str(len(report.checks)),
                          failures=str(counts["fail"]), errors="0", skipped=str(counts["skipped"]))
    for check in sorted(report.checks, key=_order):
        case = ET.SubElement(suite, "testcase", classname=f"attnbench.gate.{check.kind}",
                             name=f"{check.subject}, {check.metric}")
        if check.status == "fail":
            ET.SubElement(case, "failure", message=check.reason, type="regression").text = check.reason
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", message=check.reason)
        elif check.status == "warn":
            ET.SubElement(case, "system-out").text = f"WARNING: {check.reason}"
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
