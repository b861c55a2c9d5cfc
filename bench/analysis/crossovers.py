"""Crossovers: the sequence length from which a variant is faster than a reference and stays faster."""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import SETTING_KEYS, iter_series, ok_rows, plain_value


def _median_by_x(series_frame: pd.DataFrame, axis: str) -> pd.Series:
    values = pd.to_numeric(series_frame["median_s"])
    return values.groupby(series_frame[axis]).median()


CROSSOVER_COLUMNS = (
    *SETTING_KEYS, "series", "coupling", "fixed", "variant", "reference", "n_common", "n_min", "n_max", "outcome",
    "slower_at", "faster_from", "speedup_at_max", "note",
)


def crossovers(df: pd.DataFrame, reference: str = "sdpa") -> pd.DataFrame:
    """Per variant and setting, the sequence length from which it beats `reference` (lower median time).

    outcome "crosses": slower at `slower_at`, faster at `faster_from` and at every larger common length;
    "always": faster at every common length; "never in range": slower at the largest common length.
    `reference` matches a model name or an exact variant; speedup_at_max = t_reference / t_variant at the
    largest common length. Overhead-bound configurations (bench.analysis.overhead) are left out.
    """
    rows = []
    rows_ok = ok_rows(df, "median_s")
    if "overhead_bound" in rows_ok.columns:  # a fixed-cost time says nothing about who is faster
        rows_ok = rows_ok[rows_ok["overhead_bound"] != True]  # noqa: E712 (None is not bound)
    for series in iter_series(rows_ok, "seq_len", by_model=False, include_singletons=True):
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
                rows.append({**series.keys, "series": series.key, "coupling": series.coupling,
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
