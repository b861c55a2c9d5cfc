"""The scaling checks: each series' fitted exponent against its bound and against the baseline's, and
each policy pair's crossover against the baseline's (the package docstring says what fails)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterable

from scipy.special import stdtrit

from bench.gate.baseline import Baseline
from bench.gate.observed import CrossoverKey
from bench.gate.policy import CrossoverRule, GatePolicy
from bench.gate.verdict import CheckResult
from bench.results.identity import SeriesKey

CONFIDENCE = 0.95


def _series_subjects(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """Readable subjects of scaling series; the hardware is added where two would read the same."""
    keys = list(keys)
    labels = [key.label() for key in keys]
    return {key: label + (f" [{key.hardware}]" if labels.count(label) > 1 else "")
            for key, label in zip(keys, labels, strict=True)}


def matched(run_keys: Iterable[Hashable], entries: dict, blank: Callable[[Hashable], Hashable]) -> dict:
    """The baseline's `entries` keyed for the run: by their own key, or by the run's key that is the same
    series on another device (equal once `blank` drops the device name) when exactly one matches, so a
    run on other hardware is compared series by series (exponents and crossovers do not depend on speed)."""
    run_keys = set(run_keys)
    result = dict(entries)
    by_blank: dict[Hashable, list] = {}
    for key in entries:
        by_blank.setdefault(blank(key), []).append(key)
    for key in run_keys - set(entries):
        candidates = [c for c in by_blank.get(blank(key), []) if c not in run_keys and c in result]
        if len(candidates) == 1:
            result[key] = result.pop(candidates[0])
    return result


def _blank_series(key: SeriesKey) -> SeriesKey:
    return dataclasses.replace(key, hardware="")


def _blank_crossover(key: CrossoverKey) -> CrossoverKey:
    return (_blank_series(key[0]), *key[1:])


def scaling_checks(run_fits: dict[SeriesKey, dict], baseline: Baseline, policy: GatePolicy,
                   significance: bool = True) -> list[CheckResult]:
    """Per series and metric, the fitted exponent against the policy's bound and the baseline's exponent.

    `significance=False` (one run of a confirmation) judges the point estimates instead of the intervals.
    """
    checks = []
    base_fits = matched(run_fits, baseline.scaling, _blank_series)
    subjects = _series_subjects(set(run_fits) | set(base_fits))
    for key, subject in sorted(subjects.items(), key=lambda item: item[1]):
        current = run_fits.get(key)
        before = base_fits.get(key) or {}
        entry = current or before
        rule = policy.rule_for(entry["variant"], entry["model"], time_class=entry["complexity"]["time"],
                               memory_class=entry["complexity"]["memory"])
        for metric, bound in (("time", rule.time_exponent_max), ("memory", rule.memory_exponent_max)):
            base_fit = before.get(metric)
            if current is None:
                if base_fit and base_fit.get("slope") is not None:
                    checks.append(CheckResult("scaling", subject, f"{metric} exponent", base_fit["slope"], None,
                                              None, bound, "skipped", "series not in this run (fewer than 2 sizes "
                                              "ok)", key))
                continue
            if bound is None and not (base_fit and base_fit.get("ci_low") is not None):
                if current.get(metric) is not None:
                    checks.append(CheckResult("scaling", subject, f"{metric} exponent", None, None, None, None,
                                              "skipped", f"no bound and no baseline exponent: the layer declares "
                                              f"no {metric} complexity class and the policy names none", key))
                continue
            checks.append(_exponent_check(key, subject, metric, current.get(metric), base_fit, bound,
                                          policy.max_exponent_increase, significance))
    return checks


def _half_width_se(fit: dict) -> float:
    """The standard error behind a fit's Student-t interval (n - 2 degrees of freedom)."""
    return (fit["ci_high"] - fit["ci_low"]) / (2 * float(stdtrit(fit["n_points"] - 2, 0.5 + CONFIDENCE / 2)))


def increase_interval(fit: dict, base_fit: dict) -> tuple[float, float] | None:
    """The 95 % interval of (exponent now - baseline exponent) from both fits' intervals, or None when
    either lacks one: t quantile at the smaller fit's degrees of freedom, standard errors combined."""
    if any(f is None or f.get("ci_low") is None or (f.get("n_points") or 0) < 3 for f in (fit, base_fit)):
        return None
    dof = min(fit["n_points"], base_fit["n_points"]) - 2
    half = float(stdtrit(dof, 0.5 + CONFIDENCE / 2)) * math.hypot(_half_width_se(fit), _half_width_se(base_fit))
    change = fit["slope"] - base_fit["slope"]
    return change - half, change + half


def _exponent_check(key: SeriesKey, subject: str, metric: str, fit: dict | None, base_fit: dict | None,
                    bound: float | None, max_increase: float, significance: bool = True) -> CheckResult:
    """Fail when the whole CI of the exponent is above the bound, or the whole interval of its increase
    over the baseline's is above `max_increase` (without `significance`: the point estimates); skip
    without a CI."""
    name = f"{metric} exponent"
    base_slope = (base_fit or {}).get("slope")
    if fit is None or fit["slope"] is None or fit["ci_low"] is None:
        fit = fit or {"slope": None, "note": f"no {metric} measurement at 2 or more sizes"}
        return CheckResult("scaling", subject, name, base_slope, fit["slope"], None, bound, "skipped",
                           f"no exponent with a CI: {fit['note']}", key)
    slope, low, high = fit["slope"], fit["ci_low"], fit["ci_high"]
    change = slope - base_slope if base_slope is not None else None
    ci = f"{slope:.2f} (95% CI {low:.2f}-{high:.2f}, N={fit['x_min']:.0f}-{fit['x_max']:.0f})"
    findings = []
    if not significance:
        low = slope
    if bound is not None:
        if low > bound:
            findings.append(("fail", f"exponent {ci}: the whole CI is above the bound {bound:g}"))
        elif slope > bound:
            findings.append(("pass", f"exponent {ci}: above {bound:g} but the CI reaches below it (inconclusive; "
                                     f"add sizes or passes)"))
        else:
            findings.append(("pass", f"exponent {ci} is within the bound {bound:g}"))
    interval = increase_interval(fit, base_fit) if base_fit else None
    if interval is not None and not significance:
        interval = (change, change)
    if interval is not None:
        rise = (f"rise over the baseline's {base_slope:.2f}: {change:+.2f} "
                f"(95% CI {interval[0]:+.2f} to {interval[1]:+.2f})")
        if interval[0] > max_increase:
            findings.append(("fail", f"{rise}, wholly above +{max_increase:g}"))
        else:
            findings.append(("pass", f"{rise}, not wholly above +{max_increase:g}"))
    failed = [text for status, text in findings if status == "fail"]
    status = "fail" if failed else "pass"
    reason = "; ".join(failed or [text for _, text in findings])
    return CheckResult("scaling", subject, name, base_slope, slope, change, bound, status, reason, key)


def crossover_checks(run_points: dict[CrossoverKey, dict], baseline: Baseline,
                     policy: GatePolicy) -> list[CheckResult]:
    """Per policy pair and series, where the variant starts beating the reference against the limits."""
    checks = []
    rules = {(r.variant, r.reference): r for r in policy.crossovers}
    base_points = matched(run_points, baseline.crossovers, _blank_crossover)
    subjects = {key: f"{key[1]} vs {key[2]} {key[0].label()}" for key in set(run_points) | set(base_points)}
    for key, subject in sorted(subjects.items(), key=lambda item: item[1]):
        current = run_points.get(key)
        before = base_points.get(key)
        entry = current or before
        rule = rules.get((entry["variant"], entry["reference"])) or rules.get((entry["model"], entry["reference"]))
        if rule is None:
            continue
        base_n = before["faster_from"] if before else None
        metric = f"crossover vs {entry['reference']}"
        threshold = rule.max_factor if rule.max_factor is not None else rule.max_seq_len
        if current is None:
            checks.append(CheckResult("crossover", subject, metric, base_n, None, None, threshold, "skipped",
                                      "pair not measured at a common length in this run", key))
            continue
        now_n, n_max = current["faster_from"], current["n_max"]
        change = now_n / base_n - 1 if (now_n and base_n) else None
        status, reason = _crossover_verdict(rule, base_n, now_n, n_max, entry)
        checks.append(CheckResult("crossover", subject, metric, base_n, now_n, change, threshold, status,
                                  reason, key))
    return checks


def _crossover_verdict(rule: CrossoverRule, base_n: int | None, now_n: int | None, n_max: int,
                       entry: dict) -> tuple[str, str]:
    """(status, reason) for one crossover: fail when it moved past max_factor x baseline or max_seq_len."""
    pair = f"{entry['variant']} beats {entry['reference']}"
    limits = []
    if rule.max_factor is not None and base_n is not None:
        limits.append((base_n * rule.max_factor, f"{rule.max_factor:g}x the baseline's N={base_n}"))
    if rule.max_seq_len is not None:
        limits.append((rule.max_seq_len, f"the bound N={rule.max_seq_len}"))
    if not limits:
        return "skipped", (f"{pair} from N={now_n or '-'}; the baseline has no crossover and the policy "
                           f"sets no max_seq_len")
    limit, limit_text = min(limits, key=lambda item: item[0])
    if now_n is None:
        if n_max >= limit:
            return "fail", f"{pair} at no length up to N={n_max}, past {limit_text}"
        return "skipped", (f"{pair} at no length up to N={n_max}; the run stops before {limit_text}, "
                           f"so it cannot tell whether the crossover moved too far")
    if now_n > limit:
        return "fail", f"{pair} only from N={now_n}, past {limit_text}"
    return "pass", f"{pair} from N={now_n}, within {limit_text}"
