"""The gate's report as text (bench.display.gate): one aligned row per check, failures first, the notes,
and one verdict line counting what failed, passed and was skipped."""

from bench.display.gate import render_gate_report
from bench.gate import CheckResult, GateReport, run_gate
from tests.fixtures.gate_data import CPU_A, CPU_B, make_results


def _check(status: str, kind: str = "relative", subject: str = "linear N=128", **values) -> CheckResult:
    fields = {"metric": "ratio to sdpa", "baseline": 2.0, "current": 2.6, "change": 0.3, "threshold": 0.25,
              "reason": "why", **values}
    return CheckResult(kind, subject, status=status, **fields)


def test_the_table_lists_failures_first_with_formatted_values_then_notes_and_the_verdict():
    report = GateReport([
        _check("pass", "scaling", "linear b=2", metric="time exponent", baseline=1.0, current=1.04, change=0.04),
        _check("fail"),
        _check("skipped", "absolute", "all configurations", metric="median time", baseline=None, current=None,
               change=None, threshold=None, reason="hardware differs"),
        _check("pass", "crossover", "fastformer vs softmax", metric="crossover vs softmax", baseline=2048,
               current=4096, change=1.0, threshold=2.0),
    ], notes=["2 configuration(s) of this run are not in the baseline"])
    assert render_gate_report(report).splitlines() == [
        "STATUS   CHECK      SUBJECT                METRIC                BASELINE  NOW     CHANGE  WHY",
        "FAIL     relative   linear N=128           ratio to sdpa         2x        2.6x    +30%    why",
        "SKIPPED  absolute   all configurations     median time           -         -       -       hardware differs",
        "PASS     scaling    linear b=2             time exponent         1.00      1.04    +0.04   why",
        "PASS     crossover  fastformer vs softmax  crossover vs softmax  N=2048    N=4096  x2      why",
        "",
        "note: 2 configuration(s) of this run are not in the baseline",
        "GATE FAILED: 1 regression(s) (1 relative); 2 passed, 1 skipped",
    ]


def test_passing_checks_can_be_left_out_and_the_verdict_says_how_many():
    report = GateReport([_check("pass"), _check("pass", subject="linear N=256")])
    assert render_gate_report(report, show_passed=False).splitlines() == [
        "STATUS  CHECK  SUBJECT  METRIC  BASELINE  NOW  CHANGE  WHY",
        "",
        "GATE PASSED: no regression (2 passed, 0 skipped) (2 passing checks not shown)",
    ]


def test_a_real_report_names_the_series_and_the_configurations(policy, baseline):
    text = render_gate_report(run_gate(make_results(CPU_A, seed=7, time_coeffs={"linear": (4e-5, 3e-6, 4e-9)}),
                                       baseline, policy))
    assert "linear b=2 d=64 h=4 float32 cpu forward" in text
    assert "linear N=1024 b=2 d=64 h=4 float32 cpu forward" in text
    slower = render_gate_report(run_gate(make_results(CPU_B, seed=5, slowdown={"linear": 1.3}), baseline, policy))
    assert slower.splitlines()[-1].startswith("GATE FAILED: ") and " relative); " in slower
