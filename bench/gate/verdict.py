"""The gate's verdict as data: one CheckResult per comparison and the GateReport that collects them.

Rendering is bench.display.gate's; `speed_verdict` is the rule every speed check (relative, absolute)
applies: a regression needs every criterion at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bench.config.units import format_seconds
from bench.gate.policy import SpeedRule
from bench.results.identity import ConfigKey, SeriesKey

KINDS = ("status", "scaling", "crossover", "reference", "relative", "absolute", "shared")
# fail: a regression; warn: something moved that is not a regression of the code under test (a moving
# reference, a timeout a slower machine explains), shown but not failing; skipped: could not be judged.
STATUSES = ("fail", "warn", "skipped", "pass")
# What a check compared: a configuration, a scaling series, a crossover (its series spanning models, the
# variant and the reference), or None for a line about the whole run.
CheckKey = ConfigKey | SeriesKey | tuple[SeriesKey, str, str] | None


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One line of the gate's verdict: what was compared, the two values, the change and why it counts.

    `change` is current - baseline for exponents and current / baseline - 1 otherwise; `threshold` is
    the bound (exponent), allowed factor or seq_len (crossover), or fractional threshold (speed).
    `subject` is `key`'s readable label, for display only. `q_value` is the significance a speed check
    used (Benjamini-Hochberg adjusted Mann-Whitney p over the layer's sizes), None for other kinds.
    """

    kind: str
    subject: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None
    threshold: float | None
    status: str
    reason: str
    key: CheckKey = None
    q_value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.status not in STATUSES:
            raise ValueError(f"CheckResult kind must be in {KINDS} and status in {STATUSES}")


@dataclasses.dataclass
class GateReport:
    """All check results of one gate run, with notes about the inputs; `passed` when nothing failed."""

    checks: list[CheckResult]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def counts(self) -> dict[str, int]:
        """Number of checks per status."""
        return {status: sum(c.status == status for c in self.checks) for status in STATUSES}


def percent(change: float, threshold: float) -> str:
    """A change in per cent, with a decimal when whole per cents would print it equal to the threshold."""
    text = f"{change:+.0%}"
    return f"{change:+.1%}" if round(change * 100) == round(threshold * 100) else text


def speed_verdict(rule: SpeedRule, change: float, lost_s: float, q: float, tested: str,
                  corroboration: Sequence[tuple[float, str]] = ()) -> tuple[str, str]:
    """(status, reason): a regression needs every criterion (threshold, floor, significance, corroboration).

    `q` is the adjusted p-value and `tested` says of what (e.g. "6 vs 9 pass medians"). Each
    `corroboration` entry is (another change, its description), checked against the same threshold.
    """
    criteria = [
        (change > rule.threshold, f"{percent(change, rule.threshold)} {{}} {rule.threshold:.0%}", (">", "<=")),
        (lost_s > rule.floor_s, f"costs {format_seconds(max(lost_s, 0.0))} {{}} floor "
                                f"{format_seconds(rule.floor_s)}", (">", "<=")),
        (q < rule.alpha, f"Mann-Whitney q={q:.2g} {{}} {rule.alpha:g} ({tested})", ("<", ">=")),
    ]
    for overall, described in corroboration:
        criteria.append((overall > rule.threshold,
                         f"{percent(overall, rule.threshold)} {{}} {rule.threshold:.0%} {described}", (">", "<=")))
    texts = [(met, text.format(signs[0] if met else signs[1])) for met, text, signs in criteria]
    if all(met for met, _ in texts):
        return "fail", "; ".join(text for _, text in texts)
    return "pass", "not a regression: " + "; ".join(text for met, text in texts if not met)
