"""The status check: a configuration measured ok in the baseline that now ended otherwise fails by name,
unless it is a timeout or budget skip that only a slower machine explains (judged with the
machine-speed probe measured in each run)."""

from __future__ import annotations

from bench.config.units import format_seconds
from bench.gate.baseline import Baseline
from bench.gate.observed import Config, Observed, layer_group
from bench.gate.verdict import CheckResult
from bench.results.identity import ConfigKey

# A machine counts as slower only past this factor (the probe itself moves by a few per cent), and a
# slowdown explains what happened only if the baseline's time scaled by it reaches it within SLACK.
SLOWER = 1.05
SLACK = 0.1
SHOWN_MISSING = 3


def _explained(config: Config, before: dict, slack: float = SLACK) -> tuple[bool, str]:
    """Whether the machine's slowdown (baseline probe / this run's) explains a timeout or budget skip."""
    base_probe, now_probe = before["probe_flops_per_s"], config.probe
    if not base_probe or not now_probe:
        return False, "no machine-speed probe on both sides, so a slower machine cannot explain it"
    slow = base_probe / now_probe
    speed = f"the probe says this machine is x{1 / slow:.2f} the baseline's speed"
    if config.status == "timeout":
        if config.duration_s is None or before["duration_s"] is None:
            return False, f"{speed}, but the measurements' durations are unknown"
        expected = before["duration_s"] * slow
        told = (f"{speed}; the baseline's measurement took {format_seconds(before['duration_s'])}, "
                f"{format_seconds(expected)} at this speed, and this one was stopped at "
                f"{format_seconds(config.duration_s)}")
        return slow > SLOWER and expected * (1 + slack) >= config.duration_s, told
    if config.status == "skipped" and config.predicted_s is not None:
        expected = before["median_s"] * slow
        told = (f"{speed}; predicted {format_seconds(config.predicted_s)} per call against the baseline's "
                f"{format_seconds(before['median_s'])} ({format_seconds(expected)} at this speed)")
        return slow > SLOWER and config.predicted_s <= expected * (1 + slack), told
    return False, "a slower machine does not explain this status"


def status_checks(run: Observed, baseline: Baseline) -> list[CheckResult]:
    """One row per configuration that was ok in the baseline and is not now (a cascade skip takes the
    verdict of the shorter size that ended first), one for those missing, one for the rest."""
    checks: list[CheckResult] = []
    missing: list[ConfigKey] = []
    first_failure: dict[tuple, tuple[int, str, str]] = {}  # series -> (N, its status now, check status)
    ok = 0
    for key in sorted(baseline.configurations, key=lambda k: (layer_group(k), k.batch, k.seq_len)):
        before = baseline.configurations[key]
        config = run.configs.get(key)
        if config is None:
            missing.append(key)
            continue
        if config.status == "ok":
            ok += 1
            continue
        series = (layer_group(key), key.batch)
        earlier = first_failure.get(series)
        if config.status == "skipped" and earlier is not None:
            status = earlier[2]
            reason = f"skipped because the shorter N={earlier[0]} ended {earlier[1]} (which is a {earlier[2]})"
        else:
            explained, why = _explained(config, before)
            if explained:
                status = "warn"
                reason = f"ok in the baseline, now {config.status}, explained by a slower machine: {why}"
            else:
                status, reason = "fail", f"ok in the baseline, now {config.status}: {why}"
        check = CheckResult("status", key.label(), f"ok -> {config.status}", None, None, None, None, status, reason,
                            key)
        first_failure.setdefault(series, (key.seq_len, config.status, status))
        checks.append(check)
    if missing:
        shown = ", ".join(key.label() for key in missing[:SHOWN_MISSING])
        more = f" and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
        checks.append(CheckResult("status", f"{len(missing)} configuration(s)", "not in this run", None, None, None,
                                  None, "skipped", f"in the baseline but not in this run: {shown}{more}"))
    if ok:
        checks.append(CheckResult("status", f"{ok} configuration(s)", "ok -> ok", None, None, None, None, "pass",
                                  "ok in the baseline and in this run"))
    return checks
