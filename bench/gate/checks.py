"""The four checks of a run against a baseline: scaling exponents, crossovers, relative and absolute speed.

Each takes the observed run (bench.gate.observed), the Baseline and the policy and returns CheckResults
keyed like the baseline's entries; the package docstring says what makes each one fail.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np

from bench.analysis.significance import mann_whitney_u_one_sided
from bench.gate.baseline import Baseline
from bench.gate.observed import CrossoverKey, Observed, crossover_points, layer_group, series_fits, setting_group
from bench.gate.policy import CrossoverRule, GatePolicy
from bench.gate.verdict import CheckResult, speed_verdict
from bench.results.identity import ConfigKey, SeriesKey


def all_checks(run: Observed, baseline: Baseline, policy: GatePolicy) -> list[CheckResult]:
    """Every check of `run` against `baseline`, in the order scaling, crossover, relative, absolute."""
    return [
        *scaling_checks(series_fits(run.ok, policy), baseline, policy),
        *crossover_checks(crossover_points(run.ok, policy), baseline, policy),
        *relative_checks(run, baseline, policy),
        *absolute_checks(run, baseline, policy),
    ]


def _series_subjects(keys: Iterable[SeriesKey]) -> dict[SeriesKey, str]:
    """Readable subjects of scaling series; the hardware is added where two would read the same."""
    keys = list(keys)
    labels = [key.label() for key in keys]
    return {key: label + (f" [{key.hardware}]" if labels.count(label) > 1 else "")
            for key, label in zip(keys, labels, strict=True)}


def scaling_checks(run_fits: dict[SeriesKey, dict], baseline: Baseline, policy: GatePolicy) -> list[CheckResult]:
    """Per series and metric, the fitted exponent against the bound the policy gives its layer."""
    checks = []
    subjects = _series_subjects(set(run_fits) | set(baseline.scaling))
    for key, subject in sorted(subjects.items(), key=lambda item: item[1]):
        current = run_fits.get(key)
        before = baseline.scaling.get(key) or {}
        entry = current or before
        rule = policy.rule_for(entry["variant"], entry["model"], time_class=entry["complexity"]["time"],
                               memory_class=entry["complexity"]["memory"])
        for metric, bound in (("time", rule.time_exponent_max), ("memory", rule.memory_exponent_max)):
            if bound is None:
                if current is not None and current.get(metric) is not None:
                    checks.append(CheckResult("scaling", subject, f"{metric} exponent", None, None, None, None,
                                              "skipped", f"no bound: the layer declares no {metric} complexity "
                                              f"class and the policy names none for it", key))
                continue
            base_slope = (before.get(metric) or {}).get("slope")
            if current is None:
                if base_slope is not None:
                    checks.append(CheckResult("scaling", subject, f"{metric} exponent", base_slope, None, None,
                                              bound, "skipped", "series not in this run (fewer than 2 sizes ok)",
                                              key))
                continue
            checks.append(_exponent_check(key, subject, metric, current.get(metric), base_slope, bound))
    return checks


def _exponent_check(key: SeriesKey, subject: str, metric: str, fit: dict | None, base_slope: float | None,
                    bound: float) -> CheckResult:
    """Fail when the whole CI of the exponent is above the bound; skip without a CI."""
    name = f"{metric} exponent"
    if fit is None or fit["slope"] is None or fit["ci_low"] is None:
        fit = fit or {"slope": None, "note": f"no {metric} measurement at 2 or more sizes"}
        return CheckResult("scaling", subject, name, base_slope, fit["slope"], None, bound, "skipped",
                           f"no exponent with a CI: {fit['note']}", key)
    slope, low, high = fit["slope"], fit["ci_low"], fit["ci_high"]
    change = slope - base_slope if base_slope is not None else None
    ci = f"{slope:.2f} (95% CI {low:.2f}-{high:.2f}) over N={fit['x_min']:.0f}-{fit['x_max']:.0f}"
    if low > bound:
        status, reason = "fail", f"exponent {ci}: the whole CI is above the bound {bound:g}"
    elif slope > bound:
        status, reason = "pass", (f"exponent {ci}: point estimate above {bound:g} but the CI reaches "
                                  f"below it (inconclusive; add sizes or samples)")
    else:
        status, reason = "pass", f"exponent {ci} is within the bound {bound:g}"
    return CheckResult("scaling", subject, name, base_slope, slope, change, bound, status, reason, key)


def crossover_checks(run_points: dict[CrossoverKey, dict], baseline: Baseline,
                     policy: GatePolicy) -> list[CheckResult]:
    """Per policy pair and series, where the variant starts beating the reference against the limits."""
    checks = []
    rules = {(r.variant, r.reference): r for r in policy.crossovers}
    subjects = {key: f"{key[1]} vs {key[2]} {key[0].label()}" for key in set(run_points) | set(baseline.crossovers)}
    for key, subject in sorted(subjects.items(), key=lambda item: item[1]):
        current = run_points.get(key)
        before = baseline.crossovers.get(key)
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


def _status_problem(kind: str, key: ConfigKey, base_value: float | None, run: Observed) -> CheckResult | None:
    """A skipped (or, for a crash, failed) result when `key` has no samples in this run, else None."""
    config = run.configs.get(key)
    metric = "ratio to reference" if kind == "relative" else "median time"

    def result(status: str, reason: str) -> CheckResult:
        return CheckResult(kind, key.label(), metric, base_value, None, None, None, status, reason, key)

    if config is None:
        return result("skipped", "not in this run")
    if config.status == "error":
        return result("fail", "measured ok in the baseline, crashed in this run (status error)")
    if config.status != "ok":
        return result("skipped", f"status {config.status} in this run (no timing samples)")
    return None


def _reference_speed(run: Observed, baseline: Baseline) -> dict[tuple, float]:
    """Per setting (all but N and batch), the median over sizes of the reference's time now / baseline."""
    changes: dict[tuple, list[float]] = {}
    for key, before in baseline.configurations.items():
        config = run.configs.get(key)
        if before["variant"] == baseline.reference and config is not None and config.status == "ok":
            changes.setdefault(setting_group(key), []).append(config.median / before["median_s"])
    return {setting: float(np.median(values)) for setting, values in changes.items()}


def layer_change(run: Observed, baseline: Baseline, relative: bool) -> dict[tuple, tuple[float, int]]:
    """Per layer and setting (`observed.layer_group`), the median over its sizes of ratio (or time) now /
    baseline, minus 1, and the number of sizes."""
    changes: dict[tuple, list[float]] = {}
    for key, before in baseline.configurations.items():
        config = run.configs.get(key)
        if config is None or config.status != "ok":
            continue
        if relative and before["ratio"] is not None and config.ratio is not None:
            changes.setdefault(layer_group(key), []).append(config.ratio / before["ratio"])
        elif not relative:
            changes.setdefault(layer_group(key), []).append(config.median / before["median_s"])
    return {group: (float(np.median(values)) - 1, len(values)) for group, values in changes.items()}


def _layer_corroboration(layer: dict[tuple, tuple[float, int]], group: Hashable) -> list[tuple[float, str]]:
    if group not in layer:
        return []
    change, n = layer[group]
    return [(change, f"for the layer's median change over its {n} size(s)")]


def _by_label(configurations: dict[ConfigKey, dict]) -> list[tuple[ConfigKey, dict]]:
    return sorted(configurations.items(), key=lambda item: item[0].label())


def relative_checks(run: Observed, baseline: Baseline, policy: GatePolicy) -> list[CheckResult]:
    """Each configuration's ratio to the reference at its shape, against the baseline's ratio."""
    checks = []
    metric = f"ratio to {baseline.reference}"
    speed = _reference_speed(run, baseline)
    layer = layer_change(run, baseline, relative=True)
    for key, before in _by_label(baseline.configurations):
        if before["ratio"] is None:
            continue
        problem = _status_problem("relative", key, before["ratio"], run)
        if problem is not None:
            checks.append(problem)
            continue
        config = run.configs[key]
        if config.ratio_samples is None or config.reference_median_s is None:
            checks.append(CheckResult("relative", key.label(), metric, before["ratio"], None, None, None,
                                      "skipped", f"no ok {baseline.reference} measurement at this shape in this "
                                      f"run", key))
            continue
        rule = policy.rule_for(before["variant"], before["model"]).relative
        ratio = config.ratio
        change = ratio / before["ratio"] - 1
        lost = (ratio - before["ratio"]) * config.reference_median_s
        _, p = mann_whitney_u_one_sided(config.ratio_samples, before["ratio_samples"], alternative="greater")
        corroboration = _layer_corroboration(layer, layer_group(key))
        if setting_group(key) in speed:
            factor = speed[setting_group(key)]
            corroboration.append((config.median / before["median_s"] / factor - 1,
                                  f"against {baseline.reference}'s median speed change over all sizes "
                                  f"(x{factor:.2f})"))
        status, reason = speed_verdict(rule, change, lost, p, len(config.ratio_samples),
                                       len(before["ratio_samples"]), corroboration)
        checks.append(CheckResult("relative", key.label(), metric, before["ratio"], ratio, change, rule.threshold,
                                  status, reason, key))
    return checks


def _hardware_mismatch(run: Observed, baseline: Baseline) -> str | None:
    """Why absolute times cannot be compared (no single, equal hardware key), or None when they can."""
    base_key, now_key = baseline.hardware_key, run.hardware_key
    if base_key is None:
        return "the baseline has no single hardware key (unknown or mixed hardware)"
    if now_key is None:
        return f"this run's hardware is unknown ({run.hardware_note})"
    if base_key != now_key:
        return f"hardware differs: baseline on {base_key}, this run on {now_key}"
    return None


def absolute_checks(run: Observed, baseline: Baseline, policy: GatePolicy) -> list[CheckResult]:
    """Each configuration's raw time against the baseline's, on the baseline's hardware only."""
    why = _hardware_mismatch(run, baseline)
    if why is not None:
        return [CheckResult("absolute", "all configurations", "median time", None, None, None, None,
                            "skipped", f"{why}; absolute times are compared only on the baseline's hardware")]
    checks = []
    layer = layer_change(run, baseline, relative=False)
    for key, before in _by_label(baseline.configurations):
        problem = _status_problem("absolute", key, before["median_s"], run)
        if problem is not None:
            if before["ratio"] is None:  # the relative check reported those with a ratio
                checks.append(problem)
            continue
        config = run.configs[key]
        rule = policy.rule_for(before["variant"], before["model"]).absolute
        change = config.median / before["median_s"] - 1
        _, p = mann_whitney_u_one_sided(config.samples, before["samples_s"], alternative="greater")
        status, reason = speed_verdict(rule, change, config.median - before["median_s"], p,
                                       len(config.samples), len(before["samples_s"]),
                                       _layer_corroboration(layer, layer_group(key)))
        checks.append(CheckResult("absolute", key.label(), "median time", before["median_s"], config.median,
                                  change, rule.threshold, status, reason, key))
    return checks
