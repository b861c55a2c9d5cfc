"""A results table indexed for the gate: configurations by ConfigKey (runs pooled), the scaling fits by
SeriesKey, the crossovers by (SeriesKey, variant, reference), and the run's single hardware key."""

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
    """A layer (model with options) in one setting: the configurations whose median change is pooled."""
    return (key.model, key.options, *setting_group(key))


def _shape(key: ConfigKey) -> ConfigKey:
    """The key without its model: what a configuration shares with the reference at the same shape."""
    return dataclasses.replace(key, model="", options="{}")


@dataclasses.dataclass
class Config:
    """One configuration of a run, pooled over every run (run_id) of the table that measured it."""

    key: ConfigKey
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
class Observed:
    """A results table indexed for the gate: pooled configurations by key, ok rows, hardware key."""

    ok: pd.DataFrame
    configs: dict[ConfigKey, Config]
    hardware_key: str | None
    hardware_note: str
    notes: list[str]


def _latest_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, list[ConfigKey], int]:
    """The rows in time order with the latest of each (key, run_id) only, their keys and the dropped count."""
    frame = df.reset_index(drop=True)
    if "timestamp" in frame:
        order = pd.to_numeric(frame["timestamp"], errors="coerce").fillna(-math.inf)
        frame = frame.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    frame["_run"] = frame["run_id"].fillna("").astype(str) if "run_id" in frame else ""
    keys = [ConfigKey.from_dict(row) for row in frame.to_dict("records")]
    latest: dict[tuple[ConfigKey, str], int] = {}
    for position, identity in enumerate(zip(keys, frame["_run"], strict=True)):
        latest.pop(identity, None)  # re-inserted at the end: positions stay in time order
        latest[identity] = position
    positions = list(latest.values())
    return frame.iloc[positions].reset_index(drop=True), [keys[i] for i in positions], len(frame) - len(latest)


def prepare(df: pd.DataFrame, reference: str, what: str) -> Observed:
    """Index a results table by ConfigKey, pooling the runs (run_id) it holds.

    Within one run the latest row of a key wins. Across runs the raw samples are pooled; ratio samples
    divide each run's samples by the same run's reference median, so each run's speed still cancels and
    the pooled baseline carries the run-to-run spread that the significance test then allows for.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise GateError(f"{what} lacks column(s) {', '.join(missing)}; "
                        f"load it with bench.results.table.load_results")
    if df.empty:
        raise GateError(f"{what} holds no results")
    frame, keys, dupes = _latest_rows(df)
    notes = [f"{what}: {dupes} configuration(s) appear more than once in one run; the latest is used"] if dupes else []
    samples = [sample_list(v) for v in frame["samples_s"]]
    is_ok = [status == "ok" and bool(values) for status, values in zip(frame["status"], samples, strict=True)]
    rows = list(zip(keys, frame["_run"], frame["status"], samples, is_ok, strict=True))
    ref_medians = {(_shape(key), run): float(np.median(values))
                   for key, run, _, values, ok in rows if ok and key.variant == reference}
    grouped: dict[ConfigKey, list[tuple]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    configs = {}
    for key, group in grouped.items():
        pooled: list[float] = []
        ratios: list[float] = []
        refs = []
        good = [(run, values) for _, run, _, values, ok in group if ok]
        for run, values in good:
            pooled.extend(values)
            ref = ref_medians.get((_shape(key), run))
            if key.variant != reference and ref is not None:
                ratios.extend(s / ref for s in values)
                refs.append(ref)
        configs[key] = Config(key, "ok" if pooled else str(group[-1][2]), pooled, ratios or None,
                              float(np.median(refs)) if refs else None, max(len(good), 1))
    ok = frame[pd.Series(is_ok, index=frame.index)].drop(columns="_run")
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
