"""Scaling analysis of a results table: log-log slopes with bootstrap CIs, quadratic fits, verdicts,
crossovers, largest sizes that fit and achieved FLOP/s.

Series. Configurations that differ only along one swept axis form a series. Along `seq_len`, points
with a fixed batch form "fixed" series first; points left over whose batch * seq_len is constant form
"tokens" series (the paper's coupling, batch = tokens / seq_len). In a tokens series time is divided by
the batch: the metric becomes time (or memory) *per sequence*, whose exponent is 1 for a linear and 2
for a quadratic layer in both couplings, so one verdict rule serves both. Along `d_model`, fixed-head
series come first and leftovers with a constant head size (d_model / n_heads) form "head_dim" series.
Each point belongs to at most one series per axis. Rows of different hardware (device_name), dtype, mode,
scope, causality or variant never share a series; repeated measurements of one size stay in it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

LINEAR_BAND = (0.7, 1.3)
QUADRATIC_BAND = (1.6, 2.4)
VERDICT_RULE = (
    "The log-log slope of the metric against the swept axis is fitted by least squares over the upper "
    "part of the measured range (distinct sizes in the top half of the range on a log scale, at least "
    "three when available); its 95 % CI comes from a bootstrap (resampling each point's raw timing "
    "samples when they exist, else the fit residuals). Verdict: **linear** when the whole CI lies inside "
    f"({LINEAR_BAND[0]}, {LINEAR_BAND[1]}); **quadratic** when it lies inside "
    f"({QUADRATIC_BAND[0]}, {QUADRATIC_BAND[1]}); otherwise **inconclusive** (a CI straddling a band "
    f"edge, a slope below {LINEAR_BAND[0]} where fixed costs still dominate, a slope above "
    f"{QUADRATIC_BAND[1]}, or too few points for a CI)."
)

# The measured thread count is not a key: failed rows have no timing and so no thread count.
SETTING_KEYS = ("device", "device_name", "dtype", "mode", "scope", "causal")
MODEL_KEYS = ("variant", "model", "options")
AXES = ("seq_len", "batch", "d_model")
FAILED_STATUSES = ("oom", "timeout", "skipped")

# Per axis: (coupling, columns held constant, whether the metric is divided by the batch), in priority order.
COUPLINGS = {
    "seq_len": (("fixed", ("batch", "d_model", "n_heads"), False),
                ("tokens", ("tokens", "d_model", "n_heads"), True)),
    "batch": (("fixed", ("seq_len", "d_model", "n_heads"), False),),
    "d_model": (("fixed", ("batch", "seq_len", "n_heads"), False),
                ("head_dim", ("batch", "seq_len", "head_dim"), False)),
}

# Asymptotic class expected from the algorithms (informational; the verdict never uses it).
# Time along seq_len: softmax attention is O(N^2 d), the others O(N). Along batch everything is linear;
# along d_model the projections (8 B N d^2 FLOPs) make every layer quadratic asymptotically.
EXPECTED_SEQ_LEN = {"softmax": "quadratic", "sdpa": "quadratic", "fastformer": "linear", "linear": "linear",
                    "performer": "linear", "linformer": "linear"}
# Memory along seq_len: sdpa depends on the kernel (fused kernels are O(N), the MATH fallback O(N^2)).
EXPECTED_MEMORY_SEQ_LEN = {**EXPECTED_SEQ_LEN, "sdpa": None}

# Dense peak FLOP/s by GPU name substring (vendor datasheets, without sparsity). "float32" is the
# non-tensor-core rate: PyTorch leaves TF32 off for matmuls by default. Names containing an excluded
# substring (PCIe / NVL boards with lower clocks) get no peak rather than a wrong one.
PEAK_FLOPS_SOURCE = "vendor datasheet"
PEAK_FLOPS = (
    ("H100", ("PCIe", "NVL"), {"bfloat16": 989e12, "float16": 989e12, "tf32": 494e12, "float32": 67e12}),
    ("H200", ("NVL",), {"bfloat16": 989e12, "float16": 989e12, "tf32": 494e12, "float32": 67e12}),
    ("A100", (), {"bfloat16": 312e12, "float16": 312e12, "float32": 19.5e12}),
    ("V100-SXM", (), {"float16": 125e12, "float32": 15.7e12}),
)


@dataclass(frozen=True)
class SlopeFit:
    """Log-log slope over the upper range with a 95 % bootstrap CI; slope is None when data is too thin.

    x_min/x_max is the range the slope was fitted on; ci_method is "samples", "residuals" or "none".
    """

    slope: float | None
    ci_low: float | None
    ci_high: float | None
    n_points: int
    x_min: float | None
    x_max: float | None
    ci_method: str = "none"
    note: str = ""


@dataclass(frozen=True)
class PolyFit:
    """t = a + b x + c x^2 with a, b, c >= 0 (relative least squares).

    quadratic_share = c x_max^2 / t(x_max): how much of the largest size's cost the N^2 term explains.
    """

    a: float
    b: float
    c: float
    rss: float
    n_points: int
    x_max: float
    quadratic_share: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.a + self.b * x + self.c * x ** 2


@dataclass(frozen=True)
class Series:
    """Rows that differ only along `axis`; `fixed` holds the constant columns, `per_sequence` the coupling."""

    axis: str
    coupling: str
    keys: dict
    fixed: dict
    per_sequence: bool
    frame: pd.DataFrame

    @property
    def fixed_label(self) -> str:
        return ", ".join(f"{k}={plain_value(v)}" for k, v in self.fixed.items())


def sample_list(value: object) -> list[float]:
    """Raw samples of one row as floats: accepts a list, a JSON list string or a missing value."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [float(v) for v in value]


def _upper_mask(x: np.ndarray, upper_fraction: float) -> np.ndarray:
    distinct = np.unique(x)
    logs = np.log(distinct)
    cut = logs[-1] - upper_fraction * (logs[-1] - logs[0])
    keep = distinct[logs >= cut - 1e-12]
    if keep.size < 3:
        keep = distinct[-3:]
    return np.isin(x, keep)


def _slopes(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of each row of ly (shape (..., n)) against lx (shape (n,))."""
    centred = lx - lx.mean()
    return (ly - ly.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)


def loglog_slope(
    x: Sequence[float],
    y: Sequence[float] | None = None,
    *,
    samples: Sequence[Sequence[float]] | None = None,
    upper_fraction: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> SlopeFit:
    """Slope of log y against log x over the upper range, with a 95 % bootstrap CI.

    Points used: those whose x is among the distinct x values in the top `upper_fraction` of the log
    range (at least the three largest distinct x when there are three). With raw `samples` per point
    (each at least 3 long) every bootstrap replicate resamples each point's samples and refits their
    medians, so the CI reflects measurement noise; otherwise it resamples the fit residuals (scaled by
    sqrt(n / (n - 2))), which needs at least 3 points. `y` defaults to the sample medians. Points with a
    non-positive or non-finite x or y are dropped. The same seed gives the same CI.
    """
    if not 0 < upper_fraction <= 1:
        raise ValueError(f"upper_fraction must be in (0, 1], got {upper_fraction}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    xs = np.asarray(x, dtype=float)
    sample_lists = [np.asarray(s, dtype=float) for s in samples] if samples is not None else None
    if y is None:
        if sample_lists is None:
            raise ValueError("loglog_slope needs y values or raw samples")
        ys = np.array([np.median(s) if s.size else np.nan for s in sample_lists])
    else:
        ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or (sample_lists is not None and len(sample_lists) != xs.size):
        raise ValueError("x, y and samples must have one entry per point")
    valid = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    xs, ys = xs[valid], ys[valid]
    if sample_lists is not None:
        sample_lists = [s for s, ok in zip(sample_lists, valid, strict=True) if ok]
    if np.unique(xs).size < 2:
        return SlopeFit(None, None, None, int(xs.size), None, None, "none",
                        "insufficient data: fewer than 2 distinct sizes")
    used = _upper_mask(xs, upper_fraction)
    lx, ly = np.log(xs[used]), np.log(ys[used])
    slope = float(_slopes(lx, ly))
    fit_range = (float(xs[used].min()), float(xs[used].max()))
    rng = np.random.default_rng(seed)
    used_samples = [s for s, ok in zip(sample_lists, used, strict=True) if ok] if sample_lists else None
    if used_samples and all(s.size >= 3 and np.all(s > 0) for s in used_samples):
        medians = np.empty((n_boot, len(used_samples)))
        for i, s in enumerate(used_samples):
            medians[:, i] = np.median(s[rng.integers(0, s.size, size=(n_boot, s.size))], axis=1)
        boot, method = _slopes(lx, np.log(medians)), "samples"
    elif lx.size >= 3:
        intercept = ly.mean() - slope * lx.mean()
        fitted = intercept + slope * lx
        residuals = (ly - fitted) * math.sqrt(lx.size / (lx.size - 2))
        boot = _slopes(lx, fitted + residuals[rng.integers(0, lx.size, size=(n_boot, lx.size))])
        method = "residuals"
    else:
        return SlopeFit(slope, None, None, int(lx.size), *fit_range, "none",
                        "no CI: 2 points without raw samples")
    low, high = np.percentile(boot, [2.5, 97.5])
    return SlopeFit(slope, float(low), float(high), int(lx.size), *fit_range, method)


def fit_quadratic(x: Sequence[float], y: Sequence[float]) -> PolyFit:
    """Non-negative least-squares fit of t = a + b x + c x^2, residuals relative to y.

    Relative residuals keep short sizes from being swamped by the long ones. The constraint is solved
    exactly by enumerating the non-empty subsets of {1, x, x^2} (no more terms than distinct x values),
    solving each unconstrained and keeping the feasible one (all coefficients >= 0) with the least error;
    fewer terms win ties within rounding error, so exact linear data gets c == 0.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or not np.all(np.isfinite(xs)) or not np.all(np.isfinite(ys)):
        raise ValueError("fit_quadratic needs finite x and y of the same length")
    if np.any(ys <= 0) or np.any(xs <= 0):
        raise ValueError("fit_quadratic needs positive x and y (times or bytes)")
    n_distinct = np.unique(xs).size
    if n_distinct < 2:
        raise ValueError("fit_quadratic needs at least 2 distinct x values")
    scale = xs.max()
    basis = np.stack([np.ones_like(xs), xs / scale, (xs / scale) ** 2], axis=1) / ys[:, None]
    target = np.ones_like(ys)
    tolerance = 1e-12 * xs.size  # a larger subset must beat a smaller one by more than rounding error
    best: tuple[float, np.ndarray] | None = None
    for size in range(1, min(3, n_distinct) + 1):
        for subset in combinations(range(3), size):
            coef, *_ = np.linalg.lstsq(basis[:, subset], target, rcond=None)
            if np.any(coef < 0):
                continue
            full = np.zeros(3)
            full[list(subset)] = coef
            rss = float(np.sum((basis @ full - target) ** 2))
            if best is None or rss < best[0] - tolerance:
                best = (rss, full)
    assert best is not None, "a single non-negative column always fits positive data"
    rss, (a, b, c) = best
    b, c = b / scale, c / scale ** 2
    top = a + b * scale + c * scale ** 2
    return PolyFit(float(a), float(b), float(c), rss, int(xs.size), float(scale), float(c * scale ** 2 / top))


def verdict(slope: SlopeFit) -> str:
    """'linear', 'quadratic' or 'inconclusive' by VERDICT_RULE: the whole 95 % CI must lie in a band."""
    if slope.slope is None or slope.ci_low is None or slope.ci_high is None:
        return "inconclusive"
    if LINEAR_BAND[0] < slope.ci_low and slope.ci_high < LINEAR_BAND[1]:
        return "linear"
    if QUADRATIC_BAND[0] < slope.ci_low and slope.ci_high < QUADRATIC_BAND[1]:
        return "quadratic"
    return "inconclusive"


def plain_value(value: object) -> object:
    """A numpy scalar as its Python value, integral floats as int (pandas turns ints with gaps to floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _prepared(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with the derived columns tokens/head_dim and grouping keys that groupby can handle."""
    out = df.copy()
    for name in (*SETTING_KEYS, *MODEL_KEYS):
        if name not in out.columns:
            out[name] = None
        out[name] = out[name].astype(object).where(out[name].notna(), "")
    for name in ("batch", "seq_len", "d_model", "n_heads"):
        out[name] = pd.to_numeric(out[name]).astype("int64")
    out["tokens"] = out["batch"] * out["seq_len"]
    out["head_dim"] = out["d_model"] // out["n_heads"]
    return out


def iter_series(df: pd.DataFrame, axis: str, *, by_model: bool = True,
                include_singletons: bool = False) -> Iterator[Series]:
    """Series of `df` along `axis` (see the module docstring for the couplings and the partition rule).

    by_model=False puts every variant of a setting into the same series (for comparisons between models).
    include_singletons=True also yields points that belong to no series of two or more sizes.
    """
    if axis not in COUPLINGS:
        raise ValueError(f"axis must be one of {', '.join(COUPLINGS)}, got {axis!r}")
    if df.empty:
        return
    data = _prepared(df)
    group_keys = [*(MODEL_KEYS if by_model else ()), *SETTING_KEYS]
    covered = pd.Series(False, index=data.index)
    for coupling, fixed_cols, per_sequence in COUPLINGS[axis]:
        remaining = data[~covered]
        if remaining.empty:
            break
        for key, group in remaining.groupby([*group_keys, *fixed_cols], sort=False, dropna=False):
            if group[axis].nunique() < 2:
                continue
            covered[group.index] = True
            values = dict(zip([*group_keys, *fixed_cols], key, strict=True))
            yield Series(axis, coupling, {k: plain_value(values[k]) for k in group_keys},
                         {k: plain_value(values[k]) for k in fixed_cols}, per_sequence,
                         group.sort_values(axis, kind="stable"))
    if include_singletons:
        coupling, fixed_cols, _ = COUPLINGS[axis][0]
        for _, row in data[~covered].iterrows():
            yield Series(axis, coupling, {k: plain_value(row[k]) for k in group_keys},
                         {k: plain_value(row[k]) for k in fixed_cols}, False, data.loc[[row.name]])


def _metric(series: Series, metric: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
    frame = series.frame
    x = frame[series.axis].to_numpy(dtype=float)
    divisor = frame["batch"].to_numpy(dtype=float) if series.per_sequence else np.ones(len(frame))
    y = pd.to_numeric(frame[metric]).to_numpy(dtype=float) / divisor
    samples = None
    if metric == "median_s":
        samples = [np.asarray(sample_list(v)) / d for v, d in zip(frame["samples_s"], divisor, strict=True)]
    return x, y, samples


def _ok(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    rows = df[df["status"] == "ok"]
    if metric is not None:
        values = pd.to_numeric(rows[metric], errors="coerce")
        rows = rows[values.notna() & (values > 0)]
    return rows


def _threads(frame: pd.DataFrame) -> int | str | None:
    """Measured thread count of a series (informational): a number, 'a/b' when mixed, None if unknown."""
    if "threads" not in frame.columns:
        return None
    counts = sorted({int(t) for t in pd.to_numeric(frame["threads"], errors="coerce").dropna()})
    if not counts:
        return None
    return counts[0] if len(counts) == 1 else "/".join(str(c) for c in counts)


def _expected(model: str, axis: str, metric: str) -> str | None:
    if axis == "batch":
        return "linear"
    if axis == "d_model":
        return "quadratic"
    table = EXPECTED_SEQ_LEN if metric == "median_s" else EXPECTED_MEMORY_SEQ_LEN
    return table.get(model)


SCALING_COLUMNS = (
    *MODEL_KEYS, *SETTING_KEYS, "threads", "axis", "coupling", "fixed", "metric", "n_total", "range_min",
    "range_max",
    "n_points", "x_min", "x_max", "slope", "ci_low", "ci_high", "ci_method", "a", "b", "c", "quadratic_share",
    "verdict", "expected", "note",
)


def scaling_table(df: pd.DataFrame, axis: str = "seq_len", metric: str = "median_s", *,
                  upper_fraction: float = 0.5, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per series of ok rows along `axis`: slope with CI, quadratic fit, verdict and range.

    metric is "median_s" (time; raw samples drive the CI) or "peak_bytes". For "tokens" series the metric
    is per sequence (divided by the batch) and `metric` says so. `threads` reports the measured thread
    count of the series' rows; it is not a grouping key.
    """
    if metric not in ("median_s", "peak_bytes"):
        raise ValueError(f"metric must be 'median_s' or 'peak_bytes', got {metric!r}")
    rows = []
    for series in iter_series(_ok(df, metric), axis):
        x, y, samples = _metric(series, metric)
        fit = loglog_slope(x, y, samples=samples, upper_fraction=upper_fraction, n_boot=n_boot, seed=seed)
        poly = fit_quadratic(x, y)
        rows.append({
            **series.keys, "threads": _threads(series.frame), "axis": axis, "coupling": series.coupling,
            "fixed": series.fixed_label,
            "metric": f"{metric} per sequence" if series.per_sequence else metric,
            "n_total": len(x), "range_min": plain_value(x.min()), "range_max": plain_value(x.max()),
            "n_points": fit.n_points, "x_min": plain_value(fit.x_min), "x_max": plain_value(fit.x_max),
            "slope": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high, "ci_method": fit.ci_method,
            "a": poly.a, "b": poly.b, "c": poly.c, "quadratic_share": poly.quadratic_share,
            "verdict": verdict(fit), "expected": _expected(series.keys["model"], axis, metric),
            "note": fit.note,
        })
    return pd.DataFrame(rows, columns=list(SCALING_COLUMNS))


def _median_by_x(series_frame: pd.DataFrame, axis: str) -> pd.Series:
    values = pd.to_numeric(series_frame["median_s"])
    return values.groupby(series_frame[axis]).median()


CROSSOVER_COLUMNS = (
    *SETTING_KEYS, "coupling", "fixed", "variant", "reference", "n_common", "n_min", "n_max", "outcome",
    "slower_at", "faster_from", "speedup_at_max", "note",
)


def crossovers(df: pd.DataFrame, reference: str = "sdpa") -> pd.DataFrame:
    """Per variant and setting, the sequence length from which it beats `reference` (lower median time).

    outcome "crosses": slower at `slower_at`, faster at `faster_from` and at every larger common length;
    "always": faster at every common length; "never in range": slower at the largest common length.
    `reference` matches a model name or an exact variant; speedup_at_max = t_reference / t_variant at the
    largest common length.
    """
    rows = []
    for series in iter_series(_ok(df, "median_s"), "seq_len", by_model=False, include_singletons=True):
        frame = series.frame
        is_ref = (frame["model"] == reference) | (frame["variant"] == reference)
        ref_model = set(frame.loc[is_ref, "model"])
        for ref_variant, ref_rows in frame[is_ref].groupby("variant", sort=True):
            ref_t = _median_by_x(ref_rows, "seq_len")
            others = frame[~frame["model"].isin(ref_model)]
            for variant, rows_v in others.groupby("variant", sort=True):
                var_t = _median_by_x(rows_v, "seq_len")
                common = ref_t.index.intersection(var_t.index).sort_values()
                if common.empty:
                    continue
                rows.append({**series.keys, "coupling": series.coupling,
                             "fixed": series.fixed_label,
                             "variant": variant, "reference": ref_variant,
                             **_crossing(common, ref_t[common], var_t[common])})
    return pd.DataFrame(rows, columns=list(CROSSOVER_COLUMNS))


def _crossing(common: pd.Index, ref_t: pd.Series, var_t: pd.Series) -> dict:
    sizes = [plain_value(n) for n in common]
    faster = (var_t.to_numpy() < ref_t.to_numpy()).tolist()
    result = {"n_common": len(sizes), "n_min": sizes[0], "n_max": sizes[-1], "slower_at": None,
              "faster_from": None, "speedup_at_max": float(ref_t.iloc[-1] / var_t.iloc[-1]), "note": ""}
    if all(faster):
        result.update(outcome="always", faster_from=sizes[0])
    elif not faster[-1]:
        result["outcome"] = "never in range"
        if any(faster):
            wins = [str(n) for n, f in zip(sizes, faster, strict=True) if f]
            result["note"] = "faster only at " + ", ".join(wins)
    else:
        first = len(faster) - faster[::-1].index(False)
        result.update(outcome="crosses", slower_at=sizes[first - 1], faster_from=sizes[first])
        if any(faster[: first - 1]):
            result["note"] = "also faster at " + ", ".join(
                str(n) for n, f in zip(sizes[: first - 1], faster[: first - 1], strict=True) if f)
    return result


LARGEST_FIT_COLUMNS = (
    *MODEL_KEYS, *SETTING_KEYS, "coupling", "fixed", "largest_ok_seq_len", "largest_ok_batch",
    "smallest_failed_seq_len", "failed_batch", "failed_status", "failed_reason",
)


def largest_fit(df: pd.DataFrame) -> pd.DataFrame:
    """Per variant and setting: the largest seq_len that ran (ok) and the smallest that failed.

    Failures counted are oom, timeout and skipped (predicted not to fit); errors are bugs, not limits,
    and are listed elsewhere. A series' batch is shown because the tokens coupling changes it with N.
    A configuration that is the only length of its setting is listed only when it failed.
    """
    rows = []
    relevant = df[df["status"].isin(("ok", *FAILED_STATUSES))]
    for series in iter_series(relevant, "seq_len", include_singletons=True):
        frame = series.frame
        if len(frame) == 1 and frame["status"].iloc[0] == "ok":
            continue
        ok = frame[frame["status"] == "ok"]
        failed = frame[frame["status"].isin(FAILED_STATUSES)]
        row = {**series.keys, "coupling": series.coupling, "fixed": series.fixed_label,
               "largest_ok_seq_len": None, "largest_ok_batch": None, "smallest_failed_seq_len": None,
               "failed_batch": None, "failed_status": None, "failed_reason": None}
        if not ok.empty:
            best = ok.loc[ok["seq_len"].idxmax()]
            row.update(largest_ok_seq_len=plain_value(best["seq_len"]), largest_ok_batch=plain_value(best["batch"]))
        if not failed.empty:
            worst = failed.loc[failed["seq_len"].idxmin()]
            reason = worst["skip_reason"] if worst["status"] == "skipped" else worst["error"]
            row.update(smallest_failed_seq_len=plain_value(worst["seq_len"]), failed_batch=plain_value(worst["batch"]),
                       failed_status=worst["status"], failed_reason=first_line(reason))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(LARGEST_FIT_COLUMNS))


def first_line(text: object) -> str | None:
    """The first non-empty line of an error or reason, or None."""
    if not isinstance(text, str):
        return None
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


def peak_flops(device_name: str | None, dtype: str) -> float | None:
    """Dense peak FLOP/s for a known GPU and dtype (PEAK_FLOPS); None when unknown, e.g. for CPUs."""
    if not isinstance(device_name, str):
        return None
    name = device_name.lower()
    for needle, excluded, peaks in PEAK_FLOPS:
        if needle.lower() in name and not any(e.lower() in name for e in excluded):
            return peaks.get(dtype)
    return None


ACHIEVED_COLUMNS = (
    *MODEL_KEYS, *SETTING_KEYS, "batch", "seq_len", "d_model", "n_heads", "flops", "flops_source", "median_s",
    "flops_per_s", "peak_flops_per_s", "fraction_of_peak", "peak_source",
)


def achieved_flops(df: pd.DataFrame) -> pd.DataFrame:
    """Achieved FLOP/s of each ok row that has a FLOP count, and its fraction of the GPU's dense peak.

    The work is the counted FLOPs when present, else the analytic count (as in Record.row()). The peak
    is only given for GPUs listed in PEAK_FLOPS and only for CUDA rows; otherwise it is left empty.
    """
    rows = []
    for _, row in _ok(df, "flops_per_s").iterrows():
        counted = pd.to_numeric(pd.Series([row.get("flops_counted")]), errors="coerce").iloc[0]
        analytic = pd.to_numeric(pd.Series([row.get("flops_analytic")]), errors="coerce").iloc[0]
        source, work = ("counted", counted) if counted and counted == counted else ("analytic", analytic)
        peak = peak_flops(row.get("device_name"), row["dtype"]) if row["device"] == "cuda" else None
        rate = float(row["flops_per_s"])
        rows.append({
            **{k: row.get(k) for k in (*MODEL_KEYS, *SETTING_KEYS)},
            **{k: plain_value(row[k]) for k in ("batch", "seq_len", "d_model", "n_heads")},
            "flops": float(work), "flops_source": source, "median_s": float(row["median_s"]),
            "flops_per_s": rate, "peak_flops_per_s": peak, "fraction_of_peak": rate / peak if peak else None,
            "peak_source": PEAK_FLOPS_SOURCE if peak else None,
        })
    return pd.DataFrame(rows, columns=list(ACHIEVED_COLUMNS))
