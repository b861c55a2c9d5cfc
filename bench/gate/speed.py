"""The speed checks: whether the reference moved, each configuration's ratio to it (relative), its time
in probe-normalised units or seconds (absolute) and the median change of all layers (shared); the
package docstring says what makes each one fail."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.analysis.significance import benjamini_hochberg, mann_whitney_u_one_sided
from bench.gate.baseline import Baseline
from bench.gate.observed import Config, Observed, layer_group, long_sizes, setting_group
from bench.gate.policy import GatePolicy, SpeedRule
from bench.gate.verdict import CheckResult, percent, speed_verdict
from bench.results.identity import ConfigKey

# A change in comparable units: (now / baseline, replicates now, replicates in the baseline, unit name).
Change = tuple[float, list[float], list[float], str]


def same_hardware(run: Observed, baseline: Baseline) -> bool:
    """Whether the run and the baseline each have one hardware key, and the same one."""
    return baseline.hardware_key is not None and baseline.hardware_key == run.hardware_key


def time_change(config: Config, before: dict, same: bool) -> Change | None:
    """The configuration's time now over the baseline's, in comparable units, or None.

    On the baseline's hardware it is the smaller of the change in seconds and in probe-normalised units
    (seconds x the run's GEMM rate): a regression raises both, a slower machine only the first, and a
    probe that caught the machine in a fast moment (its rate moved by up to 40 % between runs on a
    shared machine whose layers did not) only the second. On other hardware only the probe links the two.
    """
    raw = (config.median / before["median_s"], config.pass_medians, before["pass_medians_s"], "time")
    normalized = None
    if config.normalized_passes and before["normalized_passes"]:
        normalized = (config.normalized / before["normalized"], config.normalized_passes,
                      before["normalized_passes"], "probe-normalised time")
    if not same:
        return normalized
    return raw if normalized is None or raw[0] <= normalized[0] else normalized


def layer_label(key: ConfigKey) -> str:
    """A configuration's label without its N: the layer in its setting (display only)."""
    return key.label().replace(f" N={key.seq_len}", "", 1)


def _ok(run: Observed, key: ConfigKey) -> Config | None:
    config = run.configs.get(key)
    return config if config is not None and config.status == "ok" else None


def reference_moves(run: Observed, baseline: Baseline, policy: GatePolicy) -> tuple[list[CheckResult], set[tuple]]:
    """Per setting, whether the reference itself moved: every other layer's median ratio change over its
    sizes (at least two layers) beyond the threshold in the same direction. One layer that regressed
    moves only its own ratios; a reference that got faster moves everyone's. Returns the check rows and
    the settings where it moved (their relative checks cannot judge anything)."""
    ratios: dict[ConfigKey, float] = {}
    examples: dict[tuple, ConfigKey] = {}
    for key, before in baseline.configurations.items():
        config = _ok(run, key)
        if config is None:
            continue
        if before["variant"] == baseline.reference:
            examples[setting_group(key)] = key
        elif before["ratio"] is not None and config.ratio is not None:
            ratios[key] = config.ratio / before["ratio"]
    layers: dict[tuple, list[float]] = {}
    for group, (change, _) in layer_change(ratios).items():
        layers.setdefault(group[2:], []).append(change)  # layer_group is (model, options, *setting_group)
    checks, moved = [], set()
    limit = policy.reference_move
    for setting, changes in layers.items():
        if setting not in examples or len(changes) < 2:
            continue
        rise = float(np.median(changes))
        reference = 1 / (1 + rise) - 1
        text = (f"{baseline.reference} moved by {percent(reference, limit)} against the other layers: their "
                f"ratios changed by {', '.join(f'{c:+.0%}' for c in sorted(changes))}"
                f"{_probe_view(run, baseline, setting)}")
        together = all(c > limit for c in changes) or all(c < -limit / (1 + limit) for c in changes)
        if together:
            moved.add(setting)
            checks.append(CheckResult("reference", layer_label(examples[setting]), f"{baseline.reference} time",
                                      None, None, reference, limit, "warn",
                                      f"{text}: its ratios alone cannot judge them, so a relative failure here also "
                                      f"needs the layer's own time to have risen; re-baseline",
                                      examples[setting]))
        else:
            checks.append(CheckResult("reference", layer_label(examples[setting]), f"{baseline.reference} time",
                                      None, None, reference, limit, "pass",
                                      f"{text}: not all beyond {limit:.0%} in one direction", examples[setting]))
    return checks, moved


def _probe_view(run: Observed, baseline: Baseline, setting: tuple) -> str:
    """What the probe says of the reference's own time in `setting`, for the reader ('' without probes)."""
    changes = [c.normalized / before["normalized"] for key, before in baseline.configurations.items()
               if before["variant"] == baseline.reference and setting_group(key) == setting
               and (c := _ok(run, key)) is not None and c.normalized and before["normalized"]]
    if not changes:
        return ""
    return f" (probe-normalised, its own time changed by {float(np.median(changes)) - 1:+.0%})"


def _reference_speed(run: Observed, baseline: Baseline) -> dict[tuple, float]:
    """Per setting, the median over sizes of the reference's time now / baseline (same run's seconds)."""
    changes: dict[tuple, list[float]] = {}
    for key, before in baseline.configurations.items():
        config = _ok(run, key)
        if before["variant"] == baseline.reference and config is not None:
            changes.setdefault(setting_group(key), []).append(config.median / before["median_s"])
    return {setting: float(np.median(values)) for setting, values in changes.items()}


def layer_change(values: dict[ConfigKey, float]) -> dict[tuple, tuple[float, int]]:
    """Per layer and setting, the median of the configurations' changes (now / baseline) minus 1, and
    the number of sizes it is over."""
    grouped: dict[tuple, list[float]] = {}
    for key, value in values.items():
        grouped.setdefault(layer_group(key), []).append(value)
    return {group: (float(np.median(v)) - 1, len(v)) for group, v in grouped.items()}


def _q_values(tests: dict[ConfigKey, tuple[list[float], list[float]]]) -> dict[ConfigKey, float]:
    """One-sided exact Mann-Whitney p (now greater) per configuration, BH-adjusted over each layer's sizes."""
    families: dict[tuple, list[ConfigKey]] = {}
    for key in tests:
        families.setdefault(layer_group(key), []).append(key)
    q = {}
    for keys in families.values():
        ps = [mann_whitney_u_one_sided(*tests[key], alternative="greater", exact=True)[1] for key in keys]
        q.update(zip(keys, benjamini_hochberg(ps), strict=True))
    return q


def _judge(kind: str, metric: str, items: list[tuple[ConfigKey, dict, Change, float]], baseline: Baseline,
           rule_of: Callable[[dict], SpeedRule], significance: bool,
           extra: Callable[[ConfigKey, dict], list[tuple[float, str]]], per_size: bool = True) -> list[CheckResult]:
    """Speed checks of (key, baseline entry, change, seconds lost) items: threshold, floor, BH-adjusted
    significance, and for the short half of a layer's sizes its median change over all sizes.

    Without `significance` (one run of a confirmation) a long size's change counts as the larger of its
    own and the layer's median over its long half: one run's single size is noisy, and a regression of
    the long half shows in either. Without `per_size` (ratios on hardware other than the baseline's,
    which move per size with the CPU's caches) every size needs the layer's median change.
    """
    q = _q_values({key: (change[1], change[2]) for key, _, change, _ in items}) if significance else {}
    layer = layer_change({key: change[0] for key, _, change, _ in items})
    sizes: dict[tuple, set[int]] = {}
    for key in baseline.configurations:
        sizes.setdefault(layer_group(key), set()).add(key.seq_len)
    long = {key for key, *_ in items if per_size and key.seq_len in long_sizes(sizes[layer_group(key)])}
    long_layer = layer_change({key: change[0] for key, _, change, _ in items if key in long})
    checks = []
    for key, before, change, lost in items:
        rule = rule_of(before)
        corroboration = extra(key, before)
        group = layer_group(key)
        judged = change[0] - 1
        if key not in long and group in layer:
            why = f"N={key.seq_len} is in its short half" if per_size else "other hardware: judged per layer"
            corroboration.append((layer[group][0], f"for the layer's median over its {layer[group][1]} size(s) "
                                                   f"({why})"))
        elif not significance:
            judged = max(judged, long_layer[group][0])
        tested = f"{len(change[1])} vs {len(change[2])} pass medians, BH over the layer's sizes"
        status, reason = speed_verdict(rule, judged, lost, q.get(key, 0.0),
                                       tested if significance else "not tested in one run alone", corroboration)
        value = before["ratio"] if kind == "relative" else before["median_s"]
        # the current value in the baseline's unit: its ratio, or its seconds times the (normalised) change
        checks.append(CheckResult(kind, key.label(), metric, value, value * change[0], change[0] - 1, rule.threshold,
                                  status, reason, key, q.get(key)))
    return checks


def relative_checks(run: Observed, baseline: Baseline, policy: GatePolicy, moved: set[tuple],
                    significance: bool = True) -> list[CheckResult]:
    """Each configuration's ratio to the reference at its shape, against the baseline's ratio. Where the
    reference moved (`moved` settings) a rise also needs the layer's own time to have risen past the
    threshold (`time_change`); without a comparable own time there it is skipped."""
    speed = _reference_speed(run, baseline)
    same = same_hardware(run, baseline)
    items, checks = [], []
    for key, before in sorted(baseline.configurations.items(), key=lambda item: item[0].label()):
        config = _ok(run, key)
        if before["ratio"] is None or config is None:
            continue
        if setting_group(key) in moved and time_change(config, before, same) is None:
            checks.append(CheckResult("relative", key.label(), f"ratio to {baseline.reference}", before["ratio"],
                                      config.ratio, None, None, "skipped", f"{baseline.reference} moved in this "
                                      f"setting and this run's own time cannot be compared with the baseline's", key))
            continue
        if config.ratio_passes is None:
            checks.append(CheckResult("relative", key.label(), f"ratio to {baseline.reference}", before["ratio"],
                                      None, None, None, "skipped", f"no ok {baseline.reference} measurement at "
                                      f"this shape in this run", key))
            continue
        lost = (config.ratio - before["ratio"]) * config.reference_median_s
        items.append((key, before, (config.ratio / before["ratio"], config.ratio_passes, before["ratio_passes"],
                                    "ratio"), lost))

    def guard(key: ConfigKey, before: dict) -> list[tuple[float, str]]:
        factor = speed.get(setting_group(key))
        config = run.configs[key]
        guards = [] if factor is None else [(config.median / before["median_s"] / factor - 1,
                                             f"against {baseline.reference}'s median speed change (x{factor:.2f})")]
        if setting_group(key) in moved:
            own = time_change(config, before, same)
            guards.append((own[0] - 1, f"for its own {own[3]} ({baseline.reference} moved in this setting)"))
        return guards

    return checks + _judge("relative", f"ratio to {baseline.reference}", items, baseline,
                           lambda before: policy.rule_for(before["variant"], before["model"]).relative,
                           significance, guard, per_size=same)


def absolute_checks(run: Observed, baseline: Baseline, policy: GatePolicy,
                    significance: bool = True) -> list[CheckResult]:
    """Each configuration's time against the baseline's on the baseline's hardware (probe-normalised
    when both sides have the probe); one skipped line otherwise."""
    if not same_hardware(run, baseline):
        why = (f"hardware differs: baseline on {baseline.hardware_key}, this run on {run.hardware_key}"
               if baseline.hardware_key and run.hardware_key else
               f"hardware unknown ({run.hardware_note or 'the baseline has no single hardware key'})")
        return [CheckResult("absolute", "all configurations", "time", None, None, None, None, "skipped",
                            f"{why}; per-configuration times are compared on the baseline's hardware only "
                            f"(the shared check compares their median)")]
    items = []
    for key, before in sorted(baseline.configurations.items(), key=lambda item: item[0].label()):
        config = _ok(run, key)
        if config is not None:
            change = time_change(config, before, True)
            items.append((key, before, change, before["median_s"] * (change[0] - 1)))
    return _judge("absolute", "time", items, baseline,
                  lambda before: policy.rule_for(before["variant"], before["model"]).absolute,
                  significance, lambda key, before: [])


def shared_check(run: Observed, baseline: Baseline, policy: GatePolicy) -> list[CheckResult]:
    """The median time change over every configuration (probe-normalised; seconds on the same hardware
    without a probe): a regression in code all layers share, which ratios cannot see."""
    same = same_hardware(run, baseline)
    changes = [c for key, before in baseline.configurations.items()
               if (config := _ok(run, key)) is not None and (c := time_change(config, before, same)) is not None]
    if len(changes) < 4:
        return [CheckResult("shared", "all configurations", "median time change", None, None, None,
                            policy.shared_threshold, "skipped", f"{len(changes)} configuration(s) comparable "
                            f"(needs 4, and a machine-speed probe on both sides when the hardware differs)")]
    change = float(np.median([c[0] for c in changes])) - 1
    units = "probe-normalised time" if all(c[3] != "time" for c in changes) else "time"
    where = "on the baseline's hardware" if same else (f"on other hardware ({run.hardware_key or 'unknown'}; "
                                                      f"baseline {baseline.hardware_key or 'unknown'})")
    text = (f"median {units} change over {len(changes)} configuration(s) {where}: "
            f"{percent(change, policy.shared_threshold)}")
    if change <= policy.shared_threshold:
        status, reason = "pass", f"{text} <= {policy.shared_threshold:.0%}"
    elif same or policy.other_hardware == "fail":
        status, reason = "fail", f"{text} > {policy.shared_threshold:.0%}: every layer slowed (shared code?)"
    else:
        status, reason = "warn", (f"{text} > {policy.shared_threshold:.0%}, reported only: the policy's "
                                  f"shared.other_hardware is 'report'")
    return [CheckResult("shared", "all configurations", "median time change", None, None, change,
                        policy.shared_threshold, status, reason)]
