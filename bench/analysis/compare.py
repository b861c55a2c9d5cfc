"""Compare two results tables configuration by configuration: median A, median B, ratio B/A and whether
the difference is beyond noise.

Configurations are joined on their identity (`bench.results.identity.ConfigKey`: the measured
configuration, causal or not, without run id, timing policy or thread count). A configuration is called
`slower` or `faster` only when both hold: the two-sided Mann-Whitney U test on the raw samples gives
p < ALPHA, and the ratio moves by more than the minimum effect m (MIN_EFFECT, 5 %, by default): B/A
above 1 + m, or below 1 / (1 + m). Anything else is `no clear change`; with fewer than MIN_SAMPLES
samples on a side no test is made (`not tested`). The test alone calls a few per cent "changed" between
two back-to-back runs of the same code, since a machine's level drifts between runs by more than the
samples of one run spread; the minimum effect is the size a reader would act on.

The machine's speed: the median of B/A over all joined configurations (`machine_ratio`). Another day, a
busier host or another machine moves every configuration alike, and "57 slower" then says nothing about
the code. With at least MIN_MACHINE configurations each row also gets `relative` = B/A over that
median, and `change_relative` the same rule applied against it (A's samples scaled by the median before
the test): what changed beyond the machine. Results from different hardware are refused unless
forced: a ratio across machines says nothing about a code change. Rendering is bench.display.compare's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis.replicates import config_table
from bench.analysis.series import sample_list
from bench.analysis.significance import mann_whitney_u
from bench.results.identity import KEY_FIELDS

CONFIG_COLUMNS = ("variant", *KEY_FIELDS)
ALPHA = 0.01
MIN_SAMPLES = 3
MIN_EFFECT = 0.05
MIN_MACHINE = 5  # configurations needed before their median ratio is read as the machine's speed
CHANGES = ("slower", "faster", "no clear change", "not tested")
COMPARISON_COLUMNS = (*CONFIG_COLUMNS, "median_a", "median_b", "ratio", "p_value", "change", "relative",
                      "p_relative", "change_relative")


class CompareError(ValueError):
    """The two tables cannot be compared (different hardware, nothing in common); the message says why."""


@dataclass
class ComparisonResult:
    """Joined configurations with their medians, ratio B/A, p-value and a change label."""

    table: pd.DataFrame
    hardware_a: dict[str, list[str]]
    hardware_b: dict[str, list[str]]
    forced: bool = False
    only_in_a: int = 0
    only_in_b: int = 0
    warnings: list[str] = field(default_factory=list)
    min_effect: float = MIN_EFFECT
    machine_ratio: float | None = None  # median B/A over every joined configuration
    alpha: float = ALPHA

    @property
    def machine_known(self) -> bool:
        """Whether there are enough configurations (MIN_MACHINE) to read their median ratio as the machine's."""
        return self.machine_ratio is not None and len(self.table) >= MIN_MACHINE

    @property
    def machine_moved(self) -> bool:
        """Whether the machine's speed moved by more than the minimum effect between A and B."""
        return self.machine_known and beyond(self.machine_ratio, self.min_effect)

    def significant_but_small(self, column: str = "change") -> int:
        """Configurations with p < alpha whose ratio stays within the minimum effect."""
        p = "p_value" if column == "change" else "p_relative"
        ratio = "ratio" if column == "change" else "relative"
        small = [value is not None and pd.notna(value) and value < self.alpha and not beyond(r, self.min_effect)
                 for value, r in zip(self.table[p], self.table[ratio], strict=True)]
        return int(sum(small))


def beyond(ratio: float, min_effect: float) -> bool:
    """Whether a ratio moves by more than `min_effect`: above 1 + m, or below 1 / (1 + m)."""
    return abs(math.log(ratio)) > math.log1p(min_effect)


def _hardware(df: pd.DataFrame) -> dict[str, list[str]]:
    """Hardware per device kind (`hardware` column; the device name where the environment is unknown)."""
    labels: dict[str, set[str]] = {}
    for _, row in df.iterrows():
        name = row.get("hardware")
        if not isinstance(name, str) or not name:
            name = row.get("device_name") if pd.notna(row.get("device_name")) else "unknown"
        labels.setdefault(str(row.get("device")), set()).add(str(name))
    return {device: sorted(names) for device, names in labels.items()}


def _latest_ok(df: pd.DataFrame) -> pd.DataFrame:
    """One row per ok configuration, its replicated passes combined (bench.analysis.replicates)."""
    ok = config_table(df)
    ok = ok[ok["status"] == "ok"].copy()
    if "timestamp" in ok.columns:
        ok = ok.sort_values("timestamp", kind="stable", na_position="first")
    return ok.drop_duplicates(list(CONFIG_COLUMNS), keep="last")


def _change(samples_a: list[float], samples_b: list[float], ratio: float,
            min_effect: float) -> tuple[float | None, str]:
    if len(samples_a) < MIN_SAMPLES or len(samples_b) < MIN_SAMPLES:
        return None, "not tested"
    _, p = mann_whitney_u(samples_a, samples_b)
    if p >= ALPHA or not beyond(ratio, min_effect):
        return p, "no clear change"
    return p, "slower" if ratio > 1 else "faster"


def compare(df_a: pd.DataFrame, df_b: pd.DataFrame, *, force: bool = False,
            min_effect: float = MIN_EFFECT) -> ComparisonResult:
    """Join ok configurations present in both tables; refuse different hardware unless `force`.

    A configuration's passes are combined (its median is the median of the passes' medians, its samples
    pooled); measured on several hardware, the latest (by timestamp) is used. `min_effect` (a fraction,
    0.05 = 5 %) is the smallest move of the ratio called a change.
    """
    if isinstance(min_effect, bool) or not isinstance(min_effect, (int, float)) or not 0 <= min_effect < math.inf:
        raise CompareError(f"the minimum effect is a fraction of 0 or more (0.05 = 5 %), not {min_effect!r}")
    a, b = _latest_ok(df_a), _latest_ok(df_b)
    keys = list(CONFIG_COLUMNS)
    joined = a.merge(b, on=keys, suffixes=("_a", "_b"))
    if joined.empty:
        raise CompareError("the two result sets have no successfully measured configuration in common; "
                           "compare runs of the same sweep")
    hardware_a = _hardware(a.merge(b[keys], on=keys))
    hardware_b = _hardware(b.merge(a[keys], on=keys))
    differs = {d: (names, hardware_b.get(d)) for d, names in hardware_a.items() if names != hardware_b.get(d)}
    if differs and not force:
        detail = "; ".join(f"{d}: A {', '.join(x)} vs B {', '.join(y or [])}"
                           for d, (x, y) in differs.items())
        raise CompareError(f"hardware differs ({detail}); timings from different machines are not "
                           "comparable, pass force=True (--force) to compare anyway")
    warnings = []
    if any("unknown" in names for names in (*hardware_a.values(), *hardware_b.values())):
        warnings.append("hardware of some rows is unknown (no device_name or env_* columns); "
                        "could not check that A and B ran on the same machine")
    ratios = [float(row["median_s_b"]) / float(row["median_s_a"]) for _, row in joined.iterrows()]
    machine = float(np.median(ratios))
    relative = len(joined) >= MIN_MACHINE
    rows = []
    for (_, row), ratio in zip(joined.iterrows(), ratios, strict=True):
        samples_a, samples_b = sample_list(row["samples_s_a"]), sample_list(row["samples_s_b"])
        p, change = _change(samples_a, samples_b, ratio, min_effect)
        p_rel, change_rel = (_change([s * machine for s in samples_a], samples_b, ratio / machine, min_effect)
                             if relative else (None, "not tested"))
        rows.append({**{k: row[k] for k in keys}, "median_a": float(row["median_s_a"]),
                     "median_b": float(row["median_s_b"]), "ratio": ratio, "p_value": p, "change": change,
                     "relative": ratio / machine if relative else None, "p_relative": p_rel,
                     "change_relative": change_rel})
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return ComparisonResult(table=table, hardware_a=hardware_a, hardware_b=hardware_b, forced=bool(differs),
                            only_in_a=len(a) - len(joined), only_in_b=len(b) - len(joined), warnings=warnings,
                            min_effect=float(min_effect), machine_ratio=machine)
