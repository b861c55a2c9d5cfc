"""The gate's report (bench.display.gate): text with failures first, skipped checks condensed, the
passed ones counted, every line at most 120 columns and the verdict last; JSON with every check as
data; JUnit XML that CI systems read."""

import json
import xml.etree.ElementTree as ET

from bench.display.gate import WIDTH, render, render_gate_report
from bench.gate import CheckResult, GateReport, run_gate
from tests.fixtures.gate_data import CPU_A, CPU_B, make_runs


def _check(status: str, kind: str = "relative", subject: str = "linear N=128", **values) -> CheckResult:
    fields = {"metric": "ratio to sdpa", "baseline": 2.0, "current": 2.6, "change": 0.3, "threshold": 0.25,
              "reason": "why", **values}
    return CheckResult(kind, subject, status=status, **fields)


REPORT = GateReport([
    _check("pass", "scaling", "linear b=2", metric="time exponent", baseline=1.0, current=1.04, change=0.04),
    _check("skipped", "relative", "linear N=256", reason="no sdpa here"),
    _check("fail", reason="+30% > 25%"),
    _check("skipped", "relative", "linear N=512", reason="no sdpa here"),
    _check("warn", "reference", "sdpa b=2", metric="sdpa time", baseline=None, current=None, change=-0.3,
           reason="sdpa moved by -30%"),
    _check("pass", "crossover", "fastformer vs softmax", metric="crossover vs softmax", baseline=2048,
           current=4096, change=1.0, threshold=2.0),
], notes=["2 configuration(s) of this run are not in the baseline"])


def test_text_lists_failures_then_warnings_then_condensed_skips_then_counts_and_the_verdict_last():
    assert render_gate_report(REPORT).splitlines() == [
        "FAIL     relative   linear N=128, ratio to sdpa: 2x -> 2.6x (+30%)",
        "                    +30% > 25%",
        "WARN     reference  sdpa b=2, sdpa time (-30%)",
        "                    sdpa moved by -30%",
        "SKIPPED  relative   2 checks: linear N=256; linear N=512",
        "                    no sdpa here",
        "PASSED              2 checks: 1 scaling, 1 crossover (--format json lists every check)",
        "note: 2 configuration(s) of this run are not in the baseline",
        "GATE FAILED: 1 regression(s) (1 relative); 1 warning(s), 2 passed, 2 skipped",
    ]


def test_a_real_report_fits_in_120_columns_and_names_what_failed(policy, baseline):
    report = run_gate(make_runs(CPU_B, seeds=(5, 6), slowdown={"linear": 1.3}), baseline, policy)
    text = render_gate_report(report)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert text.splitlines()[0].startswith("FAIL     relative   linear N=")
    assert text.splitlines()[-1].startswith("GATE FAILED: ") and " relative); " in text
    assert len(text.splitlines()) < 40  # the passed checks are counted, not listed


def test_json_holds_every_check_with_its_structured_key(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(7, 8), time_coeffs={"linear": (4e-5, 3e-6, 4e-9)}), baseline, policy)
    data = json.loads(render(report, "json"))
    assert data["passed"] is False and data["verdict"].startswith("GATE FAILED")
    assert len(data["checks"]) == len(report.checks) and data["counts"] == report.counts()
    first = data["checks"][0]
    assert first["status"] == "fail" and first["kind"] == "scaling" and first["key"]["model"] == "linear"
    relative = next(c for c in data["checks"] if c["kind"] == "relative")
    assert relative["key"]["seq_len"] > 0 and 0 <= relative["q_value"] <= 1


def test_junit_xml_has_one_testcase_per_check_with_failures_and_skips_marked():
    root = ET.fromstring(render(REPORT, "junit"))
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "1", "2")
    cases = suite.findall("testcase")
    assert cases[0].get("classname") == "attnbench.gate.relative"
    assert cases[0].get("name") == "linear N=128, ratio to sdpa"
    assert cases[0].find("failure").get("message") == "+30% > 25%"
    assert cases[1].find("system-out").text == "WARNING: sdpa moved by -30%"
    assert [c.find("skipped") is not None for c in cases] == [False, False, True, True, False, False]
