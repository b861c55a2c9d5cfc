"""A results table indexed for the gate: configurations by ConfigKey with their pass-level replicates,
the scaling fits by SeriesKey, the crossovers by (SeriesKey, variant, reference), the run's hardware key.

A replicate is one (run, pass) median: samples inside a pass are autocorrelated and say little about the
next run, so significance is tested on replicates, never on pooled samples.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from bench.analysis.crossovers import crossovers
from bench.analysis.scaling import scaling_table
from bench.analysis.series import sample_list
from bench.gate.errors import GateError
from bench.gate.policy import GatePolicy
from bench.results.identity import KEY_FIELDS, ConfigKey, SeriesKey
from bench.results.table import HARDWARE

REQUIRED_COLUMNS = ("variant", *KEY_FIELDS, "status", "samples_s", HARDWARE)
FIT_FIELDS = ("slope", "ci_low", "ci_high", "n_points", "x_min", "x_max")
CrossoverKey = tuple[SeriesKey, str, str]


def setting_group(key: ConfigKey) -> tuple:
    """What a configuration shares with every size of its setting: all but seq_len, batch and the model."""
    return (key.d_model, key.n_heads, *key.setting())


def layer_group(key: ConfigKey) -> tuple:
    """A layer (model with options) in one setting: the configurations judged together."""
    return (key.model, key.options, *setting_group(key))


def long_sizes(sizes: set[int]) -> set[int]:
    """The long half of a layer's sizes: those at or above the midpoint of their log range."""
    if not sizes:
        return set()
    middle = (math.log(min(sizes)) + math.log(max(sizes))) / 2
    return {n for n in sizes if math.log(n) >= middle - 1e-9}


def _shape(key: ConfigKey) -> ConfigKey:
    """The key without its model: what a configuration shares with the reference at the same shape."""
    return dataclasses.replace(key, model="", options="{}")


@dataclasses.dataclass(frozen=True)
class Replicate:
    """One ok (run, pass) of a configuration: its median, the reference's median at the same shape in the
    same run and pass (else the same run), and the run's machine-speed probe rate (FLOP/s)."""

    run: str
    pass_index: int
    median_s: float
    reference_s: float | None
    probe: float | None


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


@dataclasses.dataclass
class Config:
    """One configuration over every run (run_id) and pass of the table: status and replicates.

    `status` is ok when any pass of any run was ok, else the latest row's. `duration_s` is the longest
    wall time of one measurement (the latest row's when not ok); `predicted_s` the budget predictor's
    time per call for a skipped configuration; `probe` the median machine-speed probe rate of its rows.
    """

    key: ConfigKey
    status: str
    replicates: list[Replicate]
    runs: int
    duration_s: float | None = None
    predicted_s: float | None = None
    probe: float | None = None

    @property
    def pass_medians(self) -> list[float]:
        return [r.median_s for r in self.replicates]

    @property
    def median(self) -> float:
        return float(np.median(self.pass_medians))

    @property
    def ratio_passes(self) -> list[float] | None:
        """Each replicate's median over the reference's at its shape in the same run (and pass)."""
        ratios = [r.median_s / r.reference_s for r in self.replicates if r.reference_s]
        return ratios or None

    @property
    def ratio(self) -> float | None:
        return _median(self.ratio_passes or [])

    @property
    def normalized_passes(self) -> list[float] | None:
        """Each replicate's median times its run's probe rate: the time in FLOPs of the machine's GEMM,
        which a faster or slower machine leaves unchanged. None unless every replicate has a probe."""
        if not self.replicates or any(r.probe is None for r in self.replicates):
            return None
        return [r.median_s * r.probe for r in self.replicates]

    @property
    def normalized(self) -> float | None:
        return _median(self.normalized_passes or [])

    @property
    def reference_median_s(self) -> float | None:
        return _median([r.reference_s for r in self.replicates if r.reference_s])


@dataclasses.dataclass
class Observed:
    """A results table indexed for the gate: configurations by key, ok rows, hardware key."""

    ok: pd.DataFrame
    configs: dict[ConfigKey, Config]
    hardware_key: str | None
    hardware_note: str
    notes: list[str]


def _number(value: object) -> float | None:
    number = pd.to_numeric(value, errors="coerce")
    return float(number) if pd.notna(number) and number > 0 else None


def _latest_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, list[ConfigKey], int]:
    """Rows in time order with the latest of each (key, run_id, pass) only, their keys and the dropped count."""
    frame = df.reset_index(drop=True)
    if "timestamp" in frame:
        order = pd.to_numeric(frame["timestamp"], errors="coerce").fillna(-math.inf)
        frame = frame.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    frame["_run"] = frame["run_id"].fillna("").astype(str) if "run_id" in frame else ""
    frame["_pass"] = pd.to_numeric(frame["pass"], errors="coerce").fillna(0).astype(int) if "pass" in frame else 0
    keys = [ConfigKey.from_dict(row) for row in frame.to_dict("records")]
    latest: dict[tuple, int] = {}
    for position, identity in enumerate(zip(keys, frame["_run"], frame["_pass"], strict=True)):
        latest.pop(identity, None)  # re-inserted at the end: positions stay in time order
        latest[identity] = position
    positions = list(latest.values())
    return frame.iloc[positions].reset_index(drop=True), [keys[i] for i in positions], len(frame) - len(latest)


def prepare(df: pd.DataFrame, reference: str, what: str) -> Observed:
    """Index a results table by ConfigKey: one replicate per ok (run, pass) of each configuration.

    Within one run and pass the latest row of a key wins. Each replicate's ratio divides by the
    reference's median at the same shape in the same run and pass (else the median of that run's
    passes), so the machine's speed of that moment cancels.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise GateError(f"{what} lacks column(s) {', '.join(missing)}; "
                        f"load it with bench.results.table.load_results")
    if df.empty:
        raise GateError(f"{what} holds no results")
    frame, keys, dupes = _latest_rows(df)
    notes = [f"{what}: {dupes} configuration(s) appear more than once in one pass; the latest is used"] if dupes else []
    medians = [_median(sample_list(v)) for v in frame["samples_s"]]
    is_ok = [status == "ok" and m is not None for status, m in zip(frame["status"], medians, strict=True)]
    def numbers(column: str) -> list[float | None]:
        """A column's positive numbers (None elsewhere, or everywhere when the table lacks it)."""
        return [_number(v) for v in frame[column]] if column in frame else [None] * len(frame)

    rows = [dict(key=key, run=run, pass_index=int(p), status=str(status), median=m, ok=ok, probe=probe,
                 duration=duration, predicted=predicted)
            for key, run, p, status, m, ok, probe, duration, predicted in zip(
                keys, frame["_run"], frame["_pass"], frame["status"], medians, is_ok, numbers("probe_flops_per_s"),
                numbers("duration_s"), numbers("predicted_s"), strict=True)]
    by_pass: dict[tuple, float] = {}
    by_run: dict[tuple, list[float]] = {}
    for row in rows:
        if row["ok"] and row["key"].variant == reference:
            by_pass[(_shape(row["key"]), row["run"], row["pass_index"])] = row["median"]
            by_run.setdefault((_shape(row["key"]), row["run"]), []).append(row["median"])
    grouped: dict[ConfigKey, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["key"], []).append(row)
    configs = {}
    for key, group in grouped.items():
        good = [row for row in group if row["ok"]]
        replicates = []
        for row in good:
            ref = None
            if key.variant != reference:
                ref = by_pass.get((_shape(key), row["run"], row["pass_index"]),
                                  _median(by_run.get((_shape(key), row["run"]), [])))
            replicates.append(Replicate(row["run"], row["pass_index"], row["median"], ref, row["probe"]))
        durations = [row["duration"] for row in good if row["duration"] is not None]
        last = group[-1]
        configs[key] = Config(key, "ok" if good else last["status"], replicates,
                              max(len({row["run"] for row in good}), 1),
                              max(durations) if good and durations else (None if good else last["duration"]),
                              None if good else last["predicted"],
                              _median([row["probe"] for row in group if row["probe"] is not None]))
    ok = frame[pd.Series(is_ok, index=frame.index)].drop(columns=["_run", "_pass"])
    hardware, note = _hardware(ok)
    return Observed(ok, configs, hardware, note, notes)


def _hardware(ok: pd.DataFrame) -> tuple[str | None, str]:
    """The single hardware key of the ok rows (the table's hardware column), or None with the reason."""
    values = [None if _missing(value) else str(value) for value in ok[HARDWARE]]
    if None in values:
        return None, "no environment fingerprint for its rows"
    keys = set(values)
    if len(keys) == 1:
        return keys.pop(), ""
    if not keys:
        return None, "no successful measurements"
    return None, f"mixed hardware ({'; '.join(sorted(keys))})"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def series_fits(ok: pd.DataFrame, policy: GatePolicy) -> dict[SeriesKey, dict]:
    """Scaling fits of time and memory per series: {"variant", "model", "complexity", "time", "memory"}.

    `complexity` holds the class the layer declares for each metric (the scaling table's `expected`).
    """
    fits: dict[SeriesKey, dict] = {}
    for metric, name in (("median_s", "time"), ("peak_bytes", "memory")):
        table = scaling_table(ok, "seq_len", metric, upper_fraction=policy.upper_fraction)
        for row in table.to_dict("records"):
            entry = fits.setdefault(row["series"], {"variant": row["variant"], "model": row["model"],
                                                    "complexity": {"time": None, "memory": None},
                                                    "time": None, "memory": None})
            entry[name] = {k: (None if _missing(row[k]) else float(row[k])) for k in FIT_FIELDS}
            entry[name]["note"] = row.get("note") or ""
            entry["complexity"][name] = None if _missing(row["expected"]) else str(row["expected"])
    return fits


def crossover_points(ok: pd.DataFrame, policy: GatePolicy) -> dict[CrossoverKey, dict]:
    """Crossovers of the policy's pairs: {"variant", "model", "reference", "outcome", "faster_from", "n_max"}."""
    model_of = dict(zip(ok["variant"], ok["model"], strict=True))
    points: dict[CrossoverKey, dict] = {}
    for rule in policy.crossovers:
        for row in crossovers(ok, reference=rule.reference).to_dict("records"):
            model = model_of.get(row["variant"], "")
            if rule.variant not in (row["variant"], model):
                continue
            faster_from = None if _missing(row["faster_from"]) else int(row["faster_from"])
            points[(row["series"], row["variant"], row["reference"])] = {
                "variant": row["variant"], "model": model, "reference": row["reference"],
                "outcome": row["outcome"], "faster_from": faster_from, "n_max": int(row["n_max"])}
    return points
