"""Regression gate for CI: compare a run with a stored baseline; fail on real regressions, not on noise.

Shared CI runners swing 10-30 % between runs, so "5 % slower than last week" cannot tell a regression
from a busy neighbour. Every check here leans on something such a swing cannot move.

Checks
------
scaling    Per series (one variant and setting, seq_len swept; see `bench.analysis` for the fixed-batch
           and fixed-tokens couplings) the log-log exponent of time and of peak activation memory per
           sequence over seq_len, from `bench.analysis.scaling_table` (least squares on the upper half
           of the log range, 95 % bootstrap CI over the raw samples). It FAILS when the CI's lower end
           is above the policy's bound for that variant: a uniformly slower machine leaves an exponent
           unchanged and noise only widens the interval, whereas a layer that turned quadratic moves
           the whole interval to about 2. A point estimate above the bound whose CI still reaches below
           it passes, and the reason says it is inconclusive. A series without a CI is skipped.
crossover  The seq_len from which a variant is faster than a reference at every larger length
           (`bench.analysis.crossovers`), for the pairs the policy lists. It FAILS when it moved past
           `max_factor` times the baseline's (2.0 allows the one grid step of a power-of-two sweep that
           noise can cause near the crossing), past `max_seq_len`, or out of a range long enough to
           have shown it.
relative   Each configuration's time as a ratio to the policy's reference variant (default sdpa) at the
           same shape in the same run, so the machine's speed cancels. Ratio samples are the raw samples
           divided by the reference's median. A configuration FAILS only if ALL hold:
           - its median ratio rose by more than `threshold`;
           - the time that costs at this run's speed, (ratio_now - ratio_baseline) * reference_median_now,
             exceeds `floor_s` (a 40 % rise of a 3 us kernel is not worth a red build);
           - a one-sided Mann-Whitney U test (ratio samples now greater than the baseline's) gives
             p < `alpha`, so sampling noise alone cannot fail;
           - its time also rose by more than `threshold` against the reference's median speed change
             over all sizes of the setting (now / baseline). One reference measurement drifts by a few
             per cent between runs like any other, and every ratio at its shape inherits that drift;
             this guard keeps one unlucky reference point from failing the build, while a layer that
             really got slower is slower against both. (Left out when the run shares no reference
             configuration with the baseline.)
           - the layer's median ratio change over all its sizes of the setting also exceeds `threshold`.
             On a shared CPU one configuration can switch to a slow mode for a whole run (a working set
             that straddles a cache shared with other tenants: softmax at N=512 was seen 37-79 % slower
             in both runs of a CI job, unchanged code); that cannot move the layer's median over its
             sizes, whereas a change to the layer's code shows at most of them.
           The reference's own configurations have no ratio; the absolute check covers them.
           On synthetic runs with a 0.8x-1.2x machine swing, 3 % per-configuration drift and spiky
           samples (tests/bench/gate_data.py) no noise-only run failed in 150, and 30 % more work in one
           layer was caught in 50 of 50, flagging about 70 % of its sizes.
absolute   Raw time against the baseline's, with the same rule (threshold, floor, significance and the
           layer's median time change over its sizes) and its own (looser) threshold, only when the
           run's hardware key (`bench.environment.hardware_key`: the GPU, else the CPU model and core
           count) equals the baseline's; otherwise one skipped line names both.

Several result files (or runs, told apart by run_id) are pooled: a baseline made from three runs holds
every run's samples and ratio samples (each run against its own reference), so the significance test
sees the run-to-run spread; that is the recommended way to make a baseline on shared runners.

Confirmation: when the run's table holds several runs (the sweep run twice in one CI job, given as two
result files), a failure of the pooled runs stands only if every run shows it on its own: scaling and
crossover checks are re-run per run; a speed failure needs its layer's median change over its sizes
past the threshold in each run alone (single configurations swing by tens of per cent between runs on
a shared CPU, so they are judged on the pooled samples; the layer's median moves by a few per cent).
A burst of contention during one run then does not fail the build; a regression in the code shows in
every run. On shared runners: two runs per job, baseline from three.

A configuration measured ok in the baseline that now ends in `error` fails its relative (or absolute)
check; oom, timeout or skipped ones, and ones missing from the run, are listed as skipped. A baseline
none of whose configurations appear in the run is an error (exit 2), not a pass.

Baseline file: plain JSON, `kind` "attnbench-gate-baseline", `schema` 1
------------------------------------------------------------------------
{"kind", "schema", "created" (Unix time), "reference", "hardware_key" (null when unknown or mixed),
 "run_ids", "env_ids",
 "scaling":  {series label: {"variant", "model", "time": FIT | null, "memory": FIT | null}},
             FIT = {"slope", "ci_low", "ci_high", "n_points", "x_min", "x_max"}
 "crossovers": {pair label: {"variant", "reference", "outcome", "faster_from", "n_max"}},
 "configurations": {configuration label: {"variant", "model", "seq_len", "runs", "median_s",
                    "samples_s", "reference_median_s", "ratio", "ratio_samples"}}}
Labels are readable identities (variant, shape, dtype, device, mode, scope), not the hash of the whole
BenchConfig, so a baseline survives a change of repeat count or time budget.

Policy: bench/gate_policy.toml (TOML, or JSON when the name ends in .json) holds the reference, the
relative and absolute rules, per-model exponent bounds and overrides, and the crossover pairs; its
comments document every key. Unknown keys are errors, so a typo cannot silently disable a check.

Entry points for the CLI: `gate_main` (exit 0 pass, 1 regression, 2 bad input) and
`update_baseline_main` (writes the baseline from a run).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis import crossovers, plain_value, sample_list, scaling_table
from bench.significance import mann_whitney_u_one_sided
from bench.units import format_seconds

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

BASELINE_KIND = "attnbench-gate-baseline"
BASELINE_SCHEMA = 1
POLICY_SCHEMA = 1
DEFAULT_POLICY_PATH = Path(__file__).with_name("gate_policy.toml")
KINDS = ("scaling", "crossover", "relative", "absolute")
STATUSES = ("fail", "skipped", "pass")
UPDATE_HINT = "python run_bench.py gate --update-baseline --baseline {path} RESULTS.jsonl"

_SHAPE_COLUMNS = ("variant", "model", "batch", "seq_len", "d_model", "n_heads", "causal", "dtype", "device",
                  "mode", "scope", "status", "samples_s")
_FIT_FIELDS = ("slope", "ci_low", "ci_high", "n_points", "x_min", "x_max")
_BASELINE_FIELDS = ("kind", "schema", "created", "reference", "hardware_key", "run_ids", "env_ids", "scaling",
                    "crossovers", "configurations")
_CONFIG_FIELDS = ("variant", "model", "seq_len", "runs", "median_s", "samples_s", "reference_median_s",
                  "ratio", "ratio_samples")
_RULE_FIELDS = ("threshold", "floor_s", "alpha")
_POLICY_KEYS = ("schema", "reference", "scaling", "relative", "absolute", "models", "crossovers")


class GateError(ValueError):
    """The gate cannot run on its input (baseline, policy or results); the message names the fix."""


# ------------------------------------------------------------------------------------------- policy

@dataclasses.dataclass(frozen=True)
class SpeedRule:
    """A slowdown counts when it exceeds `threshold` (fraction), costs more than `floor_s` and p < alpha."""

    threshold: float
    floor_s: float
    alpha: float


@dataclasses.dataclass(frozen=True)
class ModelRule:
    """What the policy asks of one variant: exponent bounds (None: unbounded) and its speed rules."""

    time_exponent_max: float | None
    memory_exponent_max: float | None
    relative: SpeedRule
    absolute: SpeedRule


@dataclasses.dataclass(frozen=True)
class CrossoverRule:
    """`variant` must keep beating `reference` from no later than max_factor x baseline / max_seq_len."""

    variant: str
    reference: str
    max_factor: float | None
    max_seq_len: int | None


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """The parsed policy; `rule_for` resolves a variant's rule (exact variant, then model, then defaults)."""

    reference: str
    upper_fraction: float
    n_boot: int
    relative: SpeedRule
    absolute: SpeedRule
    models: Mapping[str, Mapping]
    crossovers: tuple[CrossoverRule, ...]

    def rule_for(self, variant: str, model: str) -> ModelRule:
        """The rule for `variant` (an exact variant entry wins over its model's entry)."""
        entry = self.models.get(variant, self.models.get(model, {}))
        return ModelRule(
            time_exponent_max=entry.get("time_exponent_max"),
            memory_exponent_max=entry.get("memory_exponent_max"),
            relative=_merge_rule(self.relative, entry.get("relative")),
            absolute=_merge_rule(self.absolute, entry.get("absolute")),
        )


def _merge_rule(base: SpeedRule, override: Mapping | None) -> SpeedRule:
    if not override:
        return base
    return SpeedRule(**{name: override.get(name, getattr(base, name)) for name in _RULE_FIELDS})


def _check_keys(table: object, allowed: Sequence[str], where: str, source: str) -> Mapping:
    if not isinstance(table, Mapping):
        raise GateError(f"policy {source}: {where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise GateError(f"policy {source}: unknown key(s) {', '.join(unknown)} in {where}; "
                        f"valid keys: {', '.join(allowed)}")
    return table


def _number(value: object, name: str, source: str, *, zero_ok: bool = False, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero_ok)):
        kind = "integer" if integer else "number"
        raise GateError(f"policy {source}: {name} must be a {kind} {'>=' if zero_ok else '>'} 0, got {value!r}")
    return value


def _speed_rule(table: object, where: str, source: str, base: SpeedRule) -> SpeedRule:
    """The rule in `table`, with any field it leaves out taken from `base`."""
    table = _check_keys(table, _RULE_FIELDS, where, source)
    values = {name: _number(table[name], f"{where}.{name}", source, zero_ok=name == "floor_s")
              if name in table else getattr(base, name) for name in _RULE_FIELDS}
    if not values["alpha"] < 1:
        raise GateError(f"policy {source}: {where}.alpha must be below 1, got {values['alpha']}")
    return SpeedRule(**values)


def policy_from_dict(data: Mapping, source: str = "<policy>") -> GatePolicy:
    """Validate a policy mapping (the parsed TOML/JSON) and build a GatePolicy; GateError names bad keys."""
    top = _check_keys(data, _POLICY_KEYS, "the top level", source)
    if top.get("schema", POLICY_SCHEMA) != POLICY_SCHEMA:
        raise GateError(f"policy {source}: schema {top.get('schema')!r} is not supported; "
                        f"this version reads schema {POLICY_SCHEMA}")
    reference = top.get("reference", "sdpa")
    if not isinstance(reference, str) or not reference:
        raise GateError(f"policy {source}: reference must be a variant name such as 'sdpa', "
                        f"got {reference!r}")
    scaling = _check_keys(top.get("scaling", {}), ("upper_fraction", "n_boot"), "[scaling]", source)
    upper_fraction = _number(scaling.get("upper_fraction", 0.5), "scaling.upper_fraction", source)
    if upper_fraction > 1:
        raise GateError(f"policy {source}: scaling.upper_fraction must be in (0, 1], got {upper_fraction}")
    n_boot = _number(scaling.get("n_boot", 1000), "scaling.n_boot", source, integer=True)
    relative = _speed_rule(top.get("relative", {}), "relative", source,
                           SpeedRule(threshold=0.25, floor_s=2e-5, alpha=0.01))
    absolute = _speed_rule(top.get("absolute", {}), "absolute", source,
                           SpeedRule(threshold=0.5, floor_s=2e-5, alpha=0.01))
    models: dict[str, dict] = {}
    model_tables = top.get("models", {})
    if not isinstance(model_tables, Mapping):
        raise GateError(f"policy {source}: [models] must be a table of [models.<variant>] tables")
    for name, entry in model_tables.items():
        where = f"models.{name}"
        entry = _check_keys(entry, ("time_exponent_max", "memory_exponent_max", "relative", "absolute"),
                            f"[{where}]", source)
        parsed: dict = {}
        for bound in ("time_exponent_max", "memory_exponent_max"):
            if bound in entry:
                parsed[bound] = float(_number(entry[bound], f"{where}.{bound}", source))
        for kind, base in (("relative", relative), ("absolute", absolute)):
            if kind in entry:
                rule = _speed_rule(entry[kind], f"{where}.{kind}", source, base)
                parsed[kind] = {name: getattr(rule, name) for name in _RULE_FIELDS}
        models[name] = parsed
    pairs = top.get("crossovers", [])
    if not isinstance(pairs, list):
        raise GateError(f"policy {source}: crossovers must be an array of tables ([[crossovers]])")
    rules = []
    for i, pair in enumerate(pairs):
        where = f"crossovers[{i}]"
        pair = _check_keys(pair, ("variant", "reference", "max_factor", "max_seq_len"), where, source)
        for name in ("variant", "reference"):
            if not isinstance(pair.get(name), str) or not pair[name]:
                raise GateError(f"policy {source}: {where} needs {name} = \"<variant name>\"")
        max_factor = pair.get("max_factor")
        max_seq_len = pair.get("max_seq_len")
        if max_factor is None and max_seq_len is None:
            raise GateError(f"policy {source}: {where} needs max_factor and/or max_seq_len, "
                            f"else it checks nothing")
        if max_factor is not None and _number(max_factor, f"{where}.max_factor", source) < 1:
            raise GateError(f"policy {source}: {where}.max_factor must be >= 1, got {max_factor}")
        if max_seq_len is not None:
            _number(max_seq_len, f"{where}.max_seq_len", source, integer=True)
        rules.append(CrossoverRule(pair["variant"], pair["reference"],
                                   float(max_factor) if max_factor is not None else None, max_seq_len))
    return GatePolicy(reference, float(upper_fraction), int(n_boot), relative, absolute, models, tuple(rules))


def load_policy(path: str | Path | None = None) -> GatePolicy:
    """Read a policy file (TOML, or JSON by extension); None means the default bench/gate_policy.toml."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    if not path.is_file():
        raise GateError(f"no gate policy at {path}; pass --policy with an existing file "
                        f"or omit it to use {DEFAULT_POLICY_PATH}")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GateError(f"policy {path} cannot be parsed: {exc}") from exc
    return policy_from_dict(data, str(path))


# ------------------------------------------------------------------------------------------- labels

def setting_label(row: Mapping, fixed: str) -> str:
    """Identity of a series or crossover pair apart from the variant: fixed sizes, dtype, device, mode."""
    causal = " causal" if bool(row.get("causal")) else ""
    scope = "" if row.get("scope", "attention") == "attention" else f" {row['scope']}"
    return f"{fixed}{causal} {row['dtype']} {row['device']} {row['mode']}{scope}"


def config_label(row: Mapping, variant: str | None = None) -> str:
    """Readable identity of one configuration, e.g. `fastformer N=1024 b=2 d=64 h=4 float32 cpu forward`."""
    fixed = f"N={int(row['seq_len'])} b={int(row['batch'])} d={int(row['d_model'])} h={int(row['n_heads'])}"
    return f"{variant or row['variant']} {setting_label(row, fixed)}"


def _fixed_text(fixed: str) -> str:
    """`batch=2, d_model=64, n_heads=4` -> `b=2 d=64 h=4` (analysis' fixed label, shortened)."""
    short = {"batch": "b", "tokens": "tokens", "d_model": "d", "n_heads": "h", "seq_len": "N"}
    parts = []
    for item in str(fixed).split(", "):
        name, _, value = item.partition("=")
        parts.append(f"{short.get(name, name)}={value}")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------- run data

@dataclasses.dataclass
class _Config:
    """One configuration of a run, pooled over every run (run_id) of the table that measured it."""

    variant: str
    model: str
    seq_len: int
    setting: str
    status: str
    samples: list[float]
    ratio_samples: list[float] | None
    reference_median_s: float | None
    runs: int

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def ratio(self) -> float | None:
        return float(np.median(self.ratio_samples)) if self.ratio_samples else None


@dataclasses.dataclass
class _Run:
    """A results table indexed for the gate: pooled configurations by label, ok rows, hardware key."""

    ok: pd.DataFrame
    configs: dict[str, _Config]
    hardware_key: str | None
    hardware_note: str
    notes: list[str]


def _prepare(df: pd.DataFrame, reference: str, environments: Mapping[str, Mapping] | None, what: str) -> _Run:
    """Index a results table by configuration label, pooling the runs (run_id) it holds.

    Within one run the latest row of a label wins. Across runs the raw samples are pooled; ratio samples
    divide each run's samples by the same run's reference median, so each run's speed still cancels and
    the pooled baseline carries the run-to-run spread that the significance test then allows for.
    """
    missing = [c for c in _SHAPE_COLUMNS if c not in df.columns]
    if missing:
        raise GateError(f"{what} lacks column(s) {', '.join(missing)}; "
                        f"load it with bench.storage.load_results")
    if df.empty:
        raise GateError(f"{what} holds no results")
    frame = df.reset_index(drop=True)
    if "timestamp" in frame:
        order = pd.to_numeric(frame["timestamp"], errors="coerce").fillna(-math.inf)
        frame = frame.assign(_order=order).sort_values("_order", kind="stable")
    frame["label"] = [config_label(row) for row in frame.to_dict("records")]
    frame["_run"] = frame["run_id"].fillna("").astype(str) if "run_id" in frame else ""
    notes = []
    dupes = int(frame.duplicated(["label", "_run"], keep="last").sum())
    if dupes:
        notes.append(f"{what}: {dupes} configuration(s) appear more than once in one run; the latest is used")
        frame = frame.drop_duplicates(["label", "_run"], keep="last")
    frame["_samples"] = [sample_list(v) for v in frame["samples_s"]]
    ok = frame[(frame["status"] == "ok") & (frame["_samples"].map(len) > 0)]
    ref_medians = {(row["label"], row["_run"]): float(np.median(row["_samples"]))
                   for row in ok[ok["variant"] == reference].to_dict("records")}
    ok_rows = {label: group.to_dict("records") for label, group in ok.groupby("label", sort=False)}
    configs = {}
    for label, group in frame.groupby("label", sort=False):
        last = group.iloc[-1]
        good = ok_rows.get(label, [])
        samples: list[float] = []
        ratios: list[float] = []
        refs = []
        for row in good:
            samples.extend(row["_samples"])
            ref = ref_medians.get((config_label(row, reference), row["_run"]))
            if row["variant"] != reference and ref is not None:
                ratios.extend(s / ref for s in row["_samples"])
                refs.append(ref)
        configs[label] = _Config(
            variant=str(last["variant"]), model=str(last["model"]), seq_len=int(last["seq_len"]),
            setting=setting_label(last, f"d={int(last['d_model'])} h={int(last['n_heads'])}"),
            status="ok" if samples else str(last["status"]), samples=samples, ratio_samples=ratios or None,
            reference_median_s=float(np.median(refs)) if refs else None, runs=max(len(good), 1))
    key, note = _hardware(ok, environments)
    return _Run(ok, configs, key, note, notes)


def _hardware(frame: pd.DataFrame, environments: Mapping[str, Mapping] | None) -> tuple[str | None, str]:
    """The single hardware key of the ok rows, or None with the reason (unknown or mixed hardware)."""
    from bench.environment import hardware_key

    keys = set()
    for row in frame.to_dict("records"):
        fp = (environments or {}).get(row.get("env_id") or "")
        if fp is None:
            fp = {name[4:]: plain_value(value) for name, value in row.items()
                  if name.startswith("env_") and name != "env_id" and not _missing(plain_value(value))}
        if not fp.get("cpu_model") and not fp.get("gpu_name"):
            return None, "no environment fingerprint for its rows"
        keys.add(hardware_key(fp, row["device"]))
    if len(keys) == 1:
        return keys.pop(), ""
    if not keys:
        return None, "no successful measurements"
    return None, f"mixed hardware ({'; '.join(sorted(keys))})"


def _series_fits(frame: pd.DataFrame, policy: GatePolicy) -> dict[str, dict]:
    """Scaling fits of time and memory per series label: {"variant", "model", "time", "memory"}."""
    fits: dict[str, dict] = {}
    for metric, name in (("median_s", "time"), ("peak_bytes", "memory")):
        table = scaling_table(frame, "seq_len", metric, upper_fraction=policy.upper_fraction,
                              n_boot=policy.n_boot, seed=0)
        seen: set[str] = set()
        for row in table.to_dict("records"):
            label = f"{row['variant']} {setting_label(row, _fixed_text(row['fixed']))}"
            if label in seen:
                label += f" [{row['device_name']}, threads={row['threads']}]"
            seen.add(label)
            entry = fits.setdefault(label, {"variant": row["variant"], "model": row["model"],
                                            "time": None, "memory": None})
            entry[name] = {k: (None if _missing(row[k]) else float(row[k])) for k in _FIT_FIELDS}
            entry[name]["note"] = row.get("note") or ""
    return fits


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _crossover_points(frame: pd.DataFrame, policy: GatePolicy) -> dict[str, dict]:
    """Crossovers of the policy's pairs per setting label: {"variant", "reference", "outcome", ...}."""
    points: dict[str, dict] = {}
    for rule in policy.crossovers:
        table = crossovers(frame, reference=rule.reference)
        for row in table.to_dict("records"):
            if row["variant"] != rule.variant and row["variant"].split("[")[0] != rule.variant:
                continue
            label = f"{row['variant']} vs {row['reference']} {setting_label(row, _fixed_text(row['fixed']))}"
            faster_from = None if _missing(row["faster_from"]) else int(row["faster_from"])
            points[label] = {"variant": row["variant"], "reference": row["reference"],
                             "outcome": row["outcome"], "faster_from": faster_from, "n_max": int(row["n_max"])}
    return points


# ------------------------------------------------------------------------------------------- baseline

def make_baseline(df: pd.DataFrame, policy: GatePolicy,
                  environments: Mapping[str, Mapping] | None = None) -> dict:
    """A baseline (plain JSON-able dict) from a results table: fits, crossovers, ratios and raw samples.

    A table of several runs (run_ids) gives a pooled baseline (see `_prepare`), which also carries the
    run-to-run spread. `environments` (env_id -> fingerprint) gives the hardware; without it the table's
    env_* columns do.
    """
    run = _prepare(df, policy.reference, environments, "the results")
    if run.ok.empty:
        raise GateError("the results hold no successful (status ok) measurements; nothing to baseline")
    configurations = {
        label: {"variant": c.variant, "model": c.model, "seq_len": c.seq_len, "runs": c.runs,
                "median_s": c.median, "samples_s": c.samples, "reference_median_s": c.reference_median_s,
                "ratio": c.ratio, "ratio_samples": c.ratio_samples}
        for label, c in run.configs.items() if c.status == "ok"
    }
    ok = run.ok
    return {
        "kind": BASELINE_KIND, "schema": BASELINE_SCHEMA, "created": time.time(),
        "reference": policy.reference, "hardware_key": run.hardware_key,
        "run_ids": sorted({str(r) for r in ok["run_id"].dropna()}) if "run_id" in ok else [],
        "env_ids": sorted({str(r) for r in ok["env_id"].dropna() if r}) if "env_id" in ok else [],
        "scaling": _series_fits(ok, policy),
        "crossovers": _crossover_points(ok, policy),
        "configurations": configurations,
    }


def _validate_baseline(data: object, source: str) -> dict:
    hint = f"recreate it with `{UPDATE_HINT.format(path=source)}`"
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise GateError(f"{source} is not an attnbench gate baseline (kind {kind!r}); {hint}")
    if data.get("schema") != BASELINE_SCHEMA:
        raise GateError(f"baseline {source} has schema {data.get('schema')!r}, but this version reads schema "
                        f"{BASELINE_SCHEMA}; {hint}")
    missing = [name for name in _BASELINE_FIELDS if name not in data]
    if missing:
        raise GateError(f"baseline {source} lacks field(s) {', '.join(missing)}; {hint}")
    for name in ("scaling", "crossovers", "configurations"):
        if not isinstance(data[name], dict):
            raise GateError(f"baseline {source}: {name} must be an object; {hint}")
    for label, entry in data["configurations"].items():
        if not isinstance(entry, dict) or any(name not in entry for name in _CONFIG_FIELDS):
            raise GateError(f"baseline {source}: configuration {label!r} lacks one of "
                            f"{', '.join(_CONFIG_FIELDS)}; {hint}")
        for name in ("samples_s", "ratio_samples"):
            values = entry[name]
            if values is None and name == "ratio_samples":
                continue
            numbers = isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
            if not numbers or not values:
                raise GateError(f"baseline {source}: configuration {label!r} has an invalid {name} "
                                f"(need a non-empty list of positive numbers); {hint}")
    return data


def save_baseline(path: str | Path, baseline: dict) -> None:
    """Write a baseline as indented JSON, atomically (a crash leaves the old file intact)."""
    path = Path(path)
    _validate_baseline(baseline, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(baseline, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number here")


def load_baseline(path: str | Path) -> dict:
    """Read and validate a baseline; GateError says what is wrong (missing, not JSON, schema, fields)."""
    path = Path(path)
    if not path.is_file():
        raise GateError(f"no baseline at {path}; create one from a run with "
                        f"`{UPDATE_HINT.format(path=path)}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise GateError(f"baseline {path} is not UTF-8 text ({exc}); "
                        f"recreate it with `{UPDATE_HINT.format(path=path)}`") from exc
    except ValueError as exc:
        raise GateError(f"baseline {path} is not valid JSON ({exc}); "
                        f"recreate it with `{UPDATE_HINT.format(path=path)}`") from exc
    return _validate_baseline(data, str(path))


# ------------------------------------------------------------------------------------------- checks

@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One line of the gate's verdict: what was compared, the two values, the change and why it counts.

    `change` is current - baseline for exponents and current / baseline - 1 otherwise; `threshold` is
    the bound (exponent), allowed factor or seq_len (crossover), or fractional threshold (speed).
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

    def render(self, *, show_passed: bool = True) -> str:
        """A plain-text table, failures first: what moved, by how much, and why it counts or was skipped."""
        order = {s: i for i, s in enumerate(STATUSES)}
        kinds = {k: i for i, k in enumerate(KINDS)}
        shown = [c for c in self.checks if show_passed or c.status != "pass"]
        shown.sort(key=lambda c: (order[c.status], kinds[c.kind], c.subject, c.metric))
        header = ("STATUS", "CHECK", "SUBJECT", "METRIC", "BASELINE", "NOW", "CHANGE", "WHY")
        table = [header] + [(c.status.upper(), c.kind, c.subject, c.metric, _value(c, c.baseline),
                             _value(c, c.current), _change(c), c.reason) for c in shown]
        widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
                 for r in table]
        counts = self.counts()
        by_kind = ", ".join(f"{sum(c.kind == k for c in self.failures)} {k}" for k in KINDS
                            if any(c.kind == k for c in self.failures))
        verdict = (f"GATE PASSED: no regression ({counts['pass']} passed, {counts['skipped']} skipped)"
                   if self.passed else
                   f"GATE FAILED: {counts['fail']} regression(s) ({by_kind}); {counts['pass']} passed, "
                   f"{counts['skipped']} skipped")
        hidden = "" if show_passed else f" ({counts['pass']} passing checks not shown)"
        return "\n".join([*lines, "", *(f"note: {n}" for n in self.notes), verdict + hidden])


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


def _scaling_checks(run_fits: dict, baseline: dict, policy: GatePolicy) -> list[CheckResult]:
    checks = []
    for label in sorted(set(run_fits) | set(baseline["scaling"])):
        current = run_fits.get(label)
        before = baseline["scaling"].get(label) or {}
        entry = current or before
        rule = policy.rule_for(entry.get("variant", ""), entry.get("model", ""))
        for metric, bound in (("time", rule.time_exponent_max), ("memory", rule.memory_exponent_max)):
            if bound is None:
                continue
            name = f"{metric} exponent"
            base_fit = before.get(metric) or {}
            base_slope = base_fit.get("slope")
            if current is None:
                if base_slope is not None:
                    checks.append(CheckResult("scaling", label, name, base_slope, None, None, bound,
                                              "skipped", "series not in this run (fewer than 2 sizes ok)"))
                continue
            fit = current.get(metric)
            if fit is None or fit["slope"] is None or fit["ci_low"] is None:
                fit = fit or {"slope": None, "note": f"no {metric} measurement at 2 or more sizes"}
                checks.append(CheckResult("scaling", label, name, base_slope, fit["slope"], None, bound,
                                          "skipped", f"no exponent with a CI: {fit['note']}"))
                continue
            slope, low, high = fit["slope"], fit["ci_low"], fit["ci_high"]
            change = slope - base_slope if base_slope is not None else None
            where = f"over N={fit['x_min']:.0f}-{fit['x_max']:.0f}"
            ci = f"{slope:.2f} (95% CI {low:.2f}-{high:.2f}) {where}"
            if low > bound:
                status, reason = "fail", f"exponent {ci}: the whole CI is above the bound {bound:g}"
            elif slope > bound:
                status, reason = "pass", (f"exponent {ci}: point estimate above {bound:g} but the CI reaches "
                                          f"below it (inconclusive; add sizes or samples)")
            else:
                status, reason = "pass", f"exponent {ci} is within the bound {bound:g}"
            checks.append(CheckResult("scaling", label, name, base_slope, slope, change, bound, status,
                                      reason))
    return checks


def _crossover_checks(run_points: dict, baseline: dict, policy: GatePolicy) -> list[CheckResult]:
    checks = []
    rules = {(r.variant, r.reference): r for r in policy.crossovers}
    for label in sorted(set(run_points) | set(baseline["crossovers"])):
        current = run_points.get(label)
        before = baseline["crossovers"].get(label)
        entry = current or before
        rule = rules.get((entry["variant"], entry["reference"])) or rules.get(
            (entry["variant"].split("[")[0], entry["reference"]))
        if rule is None:
            continue
        base_n = before["faster_from"] if before else None
        metric = f"crossover vs {entry['reference']}"
        threshold = rule.max_factor if rule.max_factor is not None else rule.max_seq_len
        if current is None:
            checks.append(CheckResult("crossover", label, metric, base_n, None, None, threshold, "skipped",
                                      "pair not measured at a common length in this run"))
            continue
        now_n, n_max = current["faster_from"], current["n_max"]
        change = now_n / base_n - 1 if (now_n and base_n) else None
        status, reason = _crossover_verdict(rule, base_n, now_n, n_max, entry)
        checks.append(CheckResult("crossover", label, metric, base_n, now_n, change, threshold, status,
                                  reason))
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


def _percent(change: float, threshold: float) -> str:
    """A change in per cent, with a decimal when whole per cents would print it equal to the threshold."""
    text = f"{change:+.0%}"
    return f"{change:+.1%}" if round(change * 100) == round(threshold * 100) else text


def _speed_verdict(rule: SpeedRule, change: float, lost_s: float, p: float, n_now: int, n_base: int,
                   corroboration: Sequence[tuple[float, str]] = ()) -> tuple[str, str]:
    """(status, reason): a regression needs every criterion (threshold, floor, significance, corroboration).

    Each `corroboration` entry is (another change, its description), checked against the same threshold.
    """
    criteria = [
        (change > rule.threshold, f"{_percent(change, rule.threshold)} {{}} {rule.threshold:.0%}", (">", "<=")),
        (lost_s > rule.floor_s, f"costs {format_seconds(max(lost_s, 0.0))} {{}} floor "
                                f"{format_seconds(rule.floor_s)}", (">", "<=")),
        (p < rule.alpha, f"Mann-Whitney p={p:.2g} {{}} {rule.alpha:g} (n={n_now} vs {n_base})", ("<", ">=")),
    ]
    for overall, described in corroboration:
        criteria.append((overall > rule.threshold,
                         f"{_percent(overall, rule.threshold)} {{}} {rule.threshold:.0%} {described}", (">", "<=")))
    texts = [(met, text.format(signs[0] if met else signs[1])) for met, text, signs in criteria]
    if all(met for met, _ in texts):
        return "fail", "; ".join(text for _, text in texts)
    return "pass", "not a regression: " + "; ".join(text for met, text in texts if not met)


def _status_problem(kind: str, label: str, base_value: float | None, run: _Run) -> CheckResult | None:
    """A skipped (or, for a crash, failed) result when `label` has no samples in this run, else None."""
    config = run.configs.get(label)
    metric = "ratio to reference" if kind == "relative" else "median time"
    if config is None:
        return CheckResult(kind, label, metric, base_value, None, None, None, "skipped", "not in this run")
    if config.status == "error":
        return CheckResult(kind, label, metric, base_value, None, None, None, "fail",
                           "measured ok in the baseline, crashed in this run (status error)")
    if config.status != "ok":
        return CheckResult(kind, label, metric, base_value, None, None, None, "skipped",
                           f"status {config.status} in this run (no timing samples)")
    return None


def _reference_speed(run: _Run, baseline: dict) -> dict[str, float]:
    """Per setting (all but N and batch), the median over sizes of the reference's time now / baseline."""
    changes: dict[str, list[float]] = {}
    for label, before in baseline["configurations"].items():
        config = run.configs.get(label)
        if before["variant"] == baseline["reference"] and config is not None and config.status == "ok":
            changes.setdefault(config.setting, []).append(config.median / before["median_s"])
    return {setting: float(np.median(values)) for setting, values in changes.items()}


def _layer_change(run: _Run, baseline: dict, relative: bool) -> dict[tuple[str, str], tuple[float, int]]:
    """Per (variant, setting), the median over its sizes of ratio (or time) now / baseline, minus 1."""
    changes: dict[tuple[str, str], list[float]] = {}
    for label, before in baseline["configurations"].items():
        config = run.configs.get(label)
        if config is None or config.status != "ok":
            continue
        if relative and before["ratio"] is not None and config.ratio is not None:
            changes.setdefault((before["variant"], config.setting), []).append(config.ratio / before["ratio"])
        elif not relative:
            changes.setdefault((before["variant"], config.setting), []).append(config.median / before["median_s"])
    return {key: (float(np.median(values)) - 1, len(values)) for key, values in changes.items()}


def _layer_corroboration(layer: dict, variant: str, setting: str) -> list[tuple[float, str]]:
    if (variant, setting) not in layer:
        return []
    change, n = layer[(variant, setting)]
    return [(change, f"for the layer's median change over its {n} size(s)")]


def _relative_checks(run: _Run, baseline: dict, policy: GatePolicy) -> list[CheckResult]:
    checks = []
    reference = baseline["reference"]
    metric = f"ratio to {reference}"
    speed = _reference_speed(run, baseline)
    layer = _layer_change(run, baseline, relative=True)
    for label, before in sorted(baseline["configurations"].items()):
        if before["ratio"] is None:
            continue
        problem = _status_problem("relative", label, before["ratio"], run)
        if problem is not None:
            checks.append(problem)
            continue
        config = run.configs[label]
        if config.ratio_samples is None or config.reference_median_s is None:
            checks.append(CheckResult("relative", label, metric, before["ratio"], None, None, None, "skipped",
                                      f"no ok {baseline['reference']} measurement at this shape in this run"))
            continue
        rule = policy.rule_for(before["variant"], before["model"]).relative
        ratio = config.ratio
        change = ratio / before["ratio"] - 1
        lost = (ratio - before["ratio"]) * config.reference_median_s
        _, p = mann_whitney_u_one_sided(config.ratio_samples, before["ratio_samples"], alternative="greater")
        corroboration = _layer_corroboration(layer, before["variant"], config.setting)
        if config.setting in speed:
            factor = speed[config.setting]
            corroboration.append((config.median / before["median_s"] / factor - 1,
                                  f"against {reference}'s median speed change over all sizes (x{factor:.2f})"))
        status, reason = _speed_verdict(rule, change, lost, p, len(config.ratio_samples),
                                        len(before["ratio_samples"]), corroboration)
        checks.append(CheckResult("relative", label, metric, before["ratio"], ratio, change, rule.threshold,
                                  status, reason))
    return checks


def _absolute_checks(run: _Run, baseline: dict, policy: GatePolicy) -> list[CheckResult]:
    base_key, now_key = baseline["hardware_key"], run.hardware_key
    if base_key is None or now_key is None or base_key != now_key:
        if base_key is None:
            why = "the baseline has no single hardware key (unknown or mixed hardware)"
        elif now_key is None:
            why = f"this run's hardware is unknown ({run.hardware_note})"
        else:
            why = f"hardware differs: baseline on {base_key}, this run on {now_key}"
        return [CheckResult("absolute", "all configurations", "median time", None, None, None, None,
                            "skipped", f"{why}; absolute times are compared only on the baseline's hardware")]
    checks = []
    layer = _layer_change(run, baseline, relative=False)
    for label, before in sorted(baseline["configurations"].items()):
        problem = _status_problem("absolute", label, before["median_s"], run)
        if problem is not None:
            if before["ratio"] is None:  # the relative check reported those with a ratio
                checks.append(problem)
            continue
        config = run.configs[label]
        rule = policy.rule_for(before["variant"], before["model"]).absolute
        change = config.median / before["median_s"] - 1
        _, p = mann_whitney_u_one_sided(config.samples, before["samples_s"], alternative="greater")
        status, reason = _speed_verdict(rule, change, config.median - before["median_s"], p,
                                        len(config.samples), len(before["samples_s"]),
                                        _layer_corroboration(layer, before["variant"], config.setting))
        checks.append(CheckResult("absolute", label, "median time", before["median_s"], config.median, change,
                                  rule.threshold, status, reason))
    return checks


def run_gate(df: pd.DataFrame, baseline: dict, policy: GatePolicy,
             environments: Mapping[str, Mapping] | None = None) -> GateReport:
    """Check a run (results table) against a baseline under a policy; see the module docstring.

    `environments` (env_id -> fingerprint) gives the run's hardware; without it the env_* columns do.
    """
    baseline = _validate_baseline(baseline, "the baseline")
    if baseline["reference"] != policy.reference:
        raise GateError(f"the baseline's ratios are relative to {baseline['reference']!r} but the policy's "
                        f"reference is {policy.reference!r}; use the policy the baseline was made with or "
                        f"update the baseline")
    run = _prepare(df, policy.reference, environments, "the run")
    wanted = baseline["configurations"]
    if not any(label in run.configs for label in wanted):
        base_variants = sorted({e["variant"] for e in wanted.values()})
        run_variants = sorted({c.variant for c in run.configs.values()})
        raise GateError(f"none of the baseline's {len(wanted)} configurations appear in this run (baseline: "
                        f"{', '.join(base_variants)}, e.g. {next(iter(wanted), '-')!r}; run: "
                        f"{', '.join(run_variants)}, e.g. {next(iter(run.configs))!r}); run the baseline's "
                        f"sweep or refresh the baseline with --update-baseline")
    notes = list(run.notes)
    new = sorted(set(run.configs) - set(wanted))
    if new:
        notes.append(f"{len(new)} configuration(s) of this run are not in the baseline and were not compared "
                     f"(e.g. {new[0]})")
    checks = _confirmed(_all_checks(run, baseline, policy), df, baseline, policy, environments)
    return GateReport(checks, notes)


def _all_checks(run: _Run, baseline: dict, policy: GatePolicy) -> list[CheckResult]:
    return [
        *_scaling_checks(_series_fits(run.ok, policy), baseline, policy),
        *_crossover_checks(_crossover_points(run.ok, policy), baseline, policy),
        *_relative_checks(run, baseline, policy),
        *_absolute_checks(run, baseline, policy),
    ]


def _confirmed(checks: list[CheckResult], df: pd.DataFrame, baseline: dict, policy: GatePolicy,
               environments: Mapping[str, Mapping] | None) -> list[CheckResult]:
    """With several runs in the table, a failure stands only if every run shows it on its own.

    Scaling and crossover failures are re-checked on each run alone. A speed (relative or absolute)
    failure is confirmed on its layer's median change over its sizes, which each run alone must also
    push past the threshold: single configurations swing by tens of per cent between runs on a shared
    CPU (they are judged on the pooled samples), the layer's median moves by a few per cent.
    """
    run_ids = df["run_id"].fillna("").astype(str) if "run_id" in df else pd.Series("", index=df.index)
    if run_ids.nunique() < 2 or not any(c.status == "fail" for c in checks):
        return checks
    alone = []
    for run_id in sorted(set(run_ids)):
        run = _prepare(df[run_ids == run_id], baseline["reference"], environments, f"run {run_id}")
        by_key = {(c.kind, c.subject, c.metric): c for c in _all_checks(run, baseline, policy)}
        layers = {"relative": _layer_change(run, baseline, relative=True),
                  "absolute": _layer_change(run, baseline, relative=False)}
        alone.append((run_id, run, by_key, layers))
    confirmed = []
    for check in checks:
        if check.status == "fail":
            for run_id, run, by_key, layers in alone:
                why = _not_shown_by(check, run, by_key, layers, baseline, policy)
                if why is not None:
                    check = dataclasses.replace(check, status="pass", reason=(
                        f"not confirmed: run {run_id!r} alone {why}; all runs pooled: {check.reason}"))
                    break
        confirmed.append(check)
    return confirmed


def _not_shown_by(check: CheckResult, run: _Run, by_key: dict, layers: dict, baseline: dict,
                  policy: GatePolicy) -> str | None:
    """Why one run alone does not show a pooled failure, or None when it shows it too."""
    if check.kind not in layers:
        other = by_key.get((check.kind, check.subject, check.metric))
        return f"passes ({other.reason})" if other is not None and other.status == "pass" else None
    before = baseline["configurations"].get(check.subject)
    config = run.configs.get(check.subject)
    if before is None or config is None:
        return None
    rule = getattr(policy.rule_for(before["variant"], before["model"]), check.kind)
    change = layers[check.kind].get((before["variant"], config.setting))
    if change is None or change[0] > rule.threshold:
        return None
    return (f"does not show it: the layer's median change over its {change[1]} size(s) is "
            f"{_percent(change[0], rule.threshold)} <= {rule.threshold:.0%}")


# ------------------------------------------------------------------------------------------- CLI entry points

def _load_run(results_paths: Sequence[str | Path]) -> tuple[pd.DataFrame, dict]:
    from bench.storage import load_environments, load_results

    return load_results(results_paths), load_environments(results_paths)


def gate_main(results_paths: Sequence[str | Path], baseline_path: str | Path,
              policy_path: str | Path | None = None) -> int:
    """`run_bench.py gate`: print the report; exit 0 when it passes, 1 on regression, 2 on bad input."""
    from bench.storage import StorageError

    try:
        policy = load_policy(policy_path)
        baseline = load_baseline(baseline_path)
        df, environments = _load_run(results_paths)
        report = run_gate(df, baseline, policy, environments)
    except (GateError, StorageError, OSError) as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.passed else 1


def update_baseline_main(results_paths: Sequence[str | Path], baseline_path: str | Path,
                         policy_path: str | Path | None = None) -> int:
    """`run_bench.py gate --update-baseline`: write the baseline from a run; 0 on success, 2 on bad input."""
    from bench.storage import StorageError

    try:
        policy = load_policy(policy_path)
        df, environments = _load_run(results_paths)
        baseline = make_baseline(df, policy, environments)
        save_baseline(baseline_path, baseline)
    except (GateError, StorageError, OSError) as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        return 2
    n_ratios = sum(e["ratio"] is not None for e in baseline["configurations"].values())
    print(f"wrote baseline {baseline_path}: {len(baseline['configurations'])} configuration(s) "
          f"({n_ratios} with a ratio to {baseline['reference']}), {len(baseline['scaling'])} scaling series, "
          f"{len(baseline['crossovers'])} crossover(s), hardware {baseline['hardware_key'] or 'unknown'}")
    return 0
