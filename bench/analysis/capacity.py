"""Capacity: per series, the largest sequence length that ran and the smallest that did not fit."""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import MODEL_KEYS, SETTING_KEYS, iter_series, plain_value
from bench.analysis.unmeasured import fill_hardware
from bench.results.record import NOT_FITTING

LARGEST_FIT_COLUMNS = (
    *MODEL_KEYS, *SETTING_KEYS, "series", "coupling", "fixed", "largest_ok_seq_len", "largest_ok_batch",
    "smallest_failed_seq_len", "failed_batch", "failed_status", "failed_reason",
)


def largest_fit(df: pd.DataFrame) -> pd.DataFrame:
    """Per variant and setting: the largest seq_len that ran (ok) and the smallest that failed.

    Failures counted are oom, timeout and skipped (predicted not to fit); errors are bugs, not limits,
    and are listed elsewhere. A series' batch is shown because the tokens coupling changes it with N.
    A configuration that is the only length of its setting is listed only when it failed. A skipped
    configuration, which never ran and so has no hardware, is counted in its series' row
    (bench.analysis.unmeasured), not in a row of its own.
    """
    rows = []
    df = fill_hardware(df)
    relevant = df[df["status"].isin(("ok", *NOT_FITTING))]
    for series in iter_series(relevant, "seq_len", include_singletons=True):
        frame = series.frame
        if len(frame) == 1 and frame["status"].iloc[0] == "ok":
            continue
        ok = frame[frame["status"] == "ok"]
        failed = frame[frame["status"].isin(NOT_FITTING)]
        row = {**series.keys, "series": series.key, "coupling": series.coupling, "fixed": series.fixed_label,
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
