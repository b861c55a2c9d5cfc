"""The gate's baseline: what a run is compared with, made from a results table and stored as plain JSON.

Baseline file: JSON, `kind` "attnbench-gate-baseline", `schema` 3
------------------------------------------------------------------
{"kind", "schema", "created" (Unix time), "reference", "hardware_key" (null when unknown or mixed),
 "run_ids", "env_ids",
 "configurations": [{"key": CONFIG_KEY, "variant", "model", "seq_len", "runs", "median_s", "pass_medians_s",
                     "ratio", "ratio_passes", "normalized", "normalized_passes", "probe_flops_per_s",
                     "duration_s"}, ...],
 "scaling":        [{"series": SERIES_KEY, "variant", "model", "complexity": {"time", "memory"},
                     "time": FIT | null, "memory": FIT | null}, ...],
 "crossovers":     [{"series": SERIES_KEY, "variant", "model", "reference", "outcome", "faster_from",
                     "n_max"}, ...]}
A configuration's replicates are its (run, pass) medians: `pass_medians_s` (seconds), `ratio_passes`
(over the reference's median in the same run and pass; null for the reference itself) and
`normalized_passes` (seconds times the run's machine-speed probe rate in FLOP/s, i.e. the time in
GEMM FLOPs; null without a probe); `median_s`, `ratio` and `normalized` are their medians.
`duration_s` is the longest wall time of one measurement (for judging a later timeout).
CONFIG_KEY is `bench.results.identity.ConfigKey.to_dict()` (model, options, shape, setting), SERIES_KEY
`SeriesKey.to_dict()` (for a crossover the series spans models: its model is empty); loading rebuilds
them with `from_dict`, and the checks look entries up by those keys. FIT = {"slope", "ci_low",
"ci_high", "n_points", "x_min", "x_max", "note"}; `complexity` is the class the layer declared for each
metric, so a series missing from a later run is still reported under its class's bound. The keys hold
what was measured, not the timing policy, so a baseline survives a change of repeat count or time
budget. Files of an older schema are refused with the command that recreates them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from bench.gate.errors import GateError
from bench.gate.observed import CrossoverKey, crossover_points, prepare, series_fits
from bench.gate.policy import GatePolicy
from bench.results.identity import ConfigKey, SeriesKey

BASELINE_KIND = "attnbench-gate-baseline"
BASELINE_SCHEMA = 3
UPDATE_HINT = "python run_bench.py gate --update-baseline --baseline {path} RESULTS.jsonl"

_BASELINE_FIELDS = ("kind", "schema", "created", "reference", "hardware_key", "run_ids", "env_ids", "scaling",
                    "crossovers", "configurations")
_CONFIG_FIELDS = ("variant", "model", "seq_len", "runs", "median_s", "pass_medians_s", "ratio", "ratio_passes",
                  "normalized", "normalized_passes", "probe_flops_per_s", "duration_s")
# (replicates, their median, whether both may be null) of a configuration entry
_REPLICATES = (("pass_medians_s", "median_s", False), ("ratio_passes", "ratio", True),
               ("normalized_passes", "normalized", True))
_SCALING_FIELDS = ("variant", "model", "complexity", "time", "memory")
_CROSSOVER_FIELDS = ("variant", "model", "reference", "outcome", "faster_from", "n_max")


@dataclasses.dataclass
class Baseline:
    """A parsed baseline: entries (plain dicts of the fields above) by their structured keys."""

    created: float
    reference: str
    hardware_key: str | None
    run_ids: list[str]
    env_ids: list[str]
    configurations: dict[ConfigKey, dict]
    scaling: dict[SeriesKey, dict]
    crossovers: dict[CrossoverKey, dict]

    def to_json(self) -> dict:
        """The file's JSON object (entries sorted by their readable identity, for stable diffs)."""
        return {
            "kind": BASELINE_KIND, "schema": BASELINE_SCHEMA, "created": self.created,
            "reference": self.reference, "hardware_key": self.hardware_key, "run_ids": self.run_ids,
            "env_ids": self.env_ids,
            "configurations": [{"key": key.to_dict(), **entry} for key, entry in
                               sorted(self.configurations.items(), key=lambda item: item[0].label())],
            "scaling": [{"series": key.to_dict(), **entry} for key, entry in
                        sorted(self.scaling.items(), key=lambda item: (item[0].label(), item[0].hardware))],
            "crossovers": [{"series": key[0].to_dict(), **entry} for key, entry in
                           sorted(self.crossovers.items(), key=lambda item: (item[0][0].label(), *item[0][1:]))],
        }


def make_baseline(df: pd.DataFrame, policy: GatePolicy) -> Baseline:
    """A baseline from a results table: fits, crossovers and the replicates of its ok configurations.

    A table of several runs (run_ids) gives every run's passes as replicates (see `observed.prepare`), so
    the baseline carries the run-to-run spread. The hardware is the table's hardware column.
    """
    run = prepare(df, policy.reference, "the results")
    if run.ok.empty:
        raise GateError("the results hold no successful (status ok) measurements; nothing to baseline")
    configurations = {
        key: {"variant": key.variant, "model": key.model, "seq_len": key.seq_len, "runs": c.runs,
              "median_s": c.median, "pass_medians_s": c.pass_medians, "ratio": c.ratio,
              "ratio_passes": c.ratio_passes, "normalized": c.normalized, "normalized_passes": c.normalized_passes,
              "probe_flops_per_s": c.probe, "duration_s": c.duration_s}
        for key, c in run.configs.items() if c.status == "ok"
    }
    ok = run.ok
    return Baseline(
        created=time.time(), reference=policy.reference, hardware_key=run.hardware_key,
        run_ids=sorted({str(r) for r in ok["run_id"].dropna()}) if "run_id" in ok else [],
        env_ids=sorted({str(r) for r in ok["env_id"].dropna() if r}) if "env_id" in ok else [],
        configurations=configurations, scaling=series_fits(ok, policy), crossovers=crossover_points(ok, policy))


def _entries(data: dict, name: str, key_field: str, fields: tuple[str, ...], build: Callable[[Mapping], object],
             fail: Callable[[str], GateError]) -> dict:
    """The list `data[name]` as {key built from entry[key_field]: the entry's `fields`}."""
    if not isinstance(data[name], list):
        raise fail(f"{name} must be a list of objects (schema {BASELINE_SCHEMA})")
    entries = {}
    for i, entry in enumerate(data[name]):
        if not isinstance(entry, dict) or any(field not in entry for field in (key_field, *fields)):
            raise fail(f"{name}[{i}] lacks one of {', '.join((key_field, *fields))}")
        try:
            key = build(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"{name}[{i}] has an invalid {key_field} ({exc!r})") from exc
        entries[key] = {field: entry[field] for field in fields}
    return entries


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _check_samples(configurations: dict[ConfigKey, dict], fail: Callable[[str], GateError]) -> None:
    """Every replicate list is non-empty and positive, and its median is a positive number, both null
    together where they may be (the reference has no ratio, a run without a probe no normalised time)."""
    for key, entry in configurations.items():
        for name, median, optional in _REPLICATES:
            values = entry[name]
            if values is None and entry[median] is None and optional:
                continue
            if not (isinstance(values, list) and values and all(_positive(v) for v in values)):
                raise fail(f"configuration {key.label()!r} has an invalid {name} "
                           f"(need a non-empty list of positive numbers)")
            if not _positive(entry[median]):
                raise fail(f"configuration {key.label()!r} has an invalid {median} beside its {name} "
                           f"(need a positive number)")


def parse_baseline(data: object, source: str) -> Baseline:
    """Validate a baseline's JSON object and rebuild its keys; GateError says what is wrong and the fix."""
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

    def fail(problem: str) -> GateError:
        return GateError(f"baseline {source}: {problem}; {hint}")

    configurations = _entries(data, "configurations", "key", _CONFIG_FIELDS,
                              lambda entry: ConfigKey.from_dict(entry["key"]), fail)
    _check_samples(configurations, fail)
    return Baseline(
        created=data["created"], reference=data["reference"], hardware_key=data["hardware_key"],
        run_ids=data["run_ids"], env_ids=data["env_ids"], configurations=configurations,
        scaling=_entries(data, "scaling", "series", _SCALING_FIELDS,
                         lambda entry: SeriesKey.from_dict(entry["series"]), fail),
        crossovers=_entries(data, "crossovers", "series", _CROSSOVER_FIELDS,
                            lambda entry: (SeriesKey.from_dict(entry["series"]), entry["variant"],
                                           entry["reference"]), fail))


def save_baseline(path: str | Path, baseline: Baseline) -> None:
    """Write a baseline as indented JSON, atomically (a crash leaves the old file intact)."""
    path = Path(path)
    if path.is_dir():
        raise GateError(f"--baseline {path} is a folder; give the baseline's file name, e.g. {path / 'baseline.json'}")
    data = baseline.to_json()
    parse_baseline(data, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # nothing half written is left behind
        raise


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number here")


def load_baseline(path: str | Path) -> Baseline:
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
    return parse_baseline(data, str(path))
