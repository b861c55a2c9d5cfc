"""A results table as CSV, for spreadsheets and other tools: `run_bench.py report --csv` writes
results.csv beside report.md.

Rows and columns
----------------
One row per configuration and replicated pass, as in results.jsonl (failed and skipped configurations
included: `status` says which), in the order of the results file. The columns are those of
`bench.results.table.load_results`, in its order (its module docstring says what each holds): every
column of `bench.results.record.COLUMNS` except the raw sample list `samples_s` (its statistics
`n_samples`, `median_s`, `iqr_s`, `p10_s`, `p90_s`, `mean_s`, `min_s` stay; the samples themselves are in
results.jsonl), then `hardware`, `probe_flops_per_s` and the `env_*` columns of the environment
fingerprints, sorted. Any other column holding lists or dicts is left out the same way.

Values
------
UTF-8, comma-separated, a header line first, fields quoted where they need it (the csv module's
"excel" dialect; an `error` traceback spans lines inside its quotes). Text as it is: `options` is the
options' JSON text (e.g. `{"scorer": "official"}`, `{}` for none); integers as digits (never `4096.0`),
booleans as `True`/`False`, floats in Python's shortest form that reads back to the same number, times in
seconds, memory in bytes; a missing value is an empty field.

Reading it back: `pandas.read_csv(path)` and `csv.DictReader` read it as it is (pandas gives an integer
column with a missing value as float64, a boolean one as object, and guesses the rest); `read_csv(path)`
here gives the table's dtypes back: "Int64" and "boolean" for bench.results.table's INTEGER_COLUMNS and
BOOLEAN_COLUMNS, float64 for FLOAT_COLUMNS, text for every other column (only an empty field is
missing), and for an env_* column "Int64" or "boolean" when all its values are integers or True/False,
else text (`env_timestamp` float64). No pickle anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results.table import BOOLEAN_COLUMNS, INTEGER_COLUMNS

CSV_NAME = "results.csv"
LEFT_OUT = ("samples_s",)
# The columns of the results table that hold floats (all others are integers, booleans or text).
FLOAT_COLUMNS = (
    "median_s", "iqr_s", "p10_s", "p90_s", "mean_s", "min_s", "cold_s", "tokens_per_s", "flops_per_s", "compile_s",
    "compile_first_call_s", "predicted_s", "predicted_bytes", "energy_j_per_call", "energy_net_j_per_call",
    "energy_j_per_token", "energy_net_j_per_token", "energy_idle_w", "energy_window_s", "gpu_power_w",
    "timestamp", "duration_s", "probe_flops_per_s", "env_timestamp")
_BOOLEANS = {"True": True, "False": False}


def csv_columns(table: pd.DataFrame) -> list[str]:
    """The columns of `table` that go into the CSV: all but the raw samples and other list or dict values."""
    def nested(name: str) -> bool:
        return any(isinstance(v, (list, tuple, dict)) for v in table[name].tolist())

    return [name for name in table.columns if name not in LEFT_OUT and not nested(name)]


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write `table` (a bench.results.table results table) to `path` as described in the module docstring."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table[csv_columns(table)].to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV written by write_csv as a table with the dtypes of bench.results.table (see the module
    docstring)."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    out = text.copy()
    for name in text.columns:
        values = text[name]
        if name in INTEGER_COLUMNS or (name.startswith("env_") and _all(values, str.isdigit)):
            out[name] = pd.array([None if pd.isna(v) else int(v) for v in values], dtype="Int64")
        elif name in BOOLEAN_COLUMNS or (name.startswith("env_") and _all(values, _BOOLEANS.__contains__)):
            out[name] = pd.array([_BOOLEANS.get(v) for v in values], dtype="boolean")
        elif name in FLOAT_COLUMNS:
            out[name] = pd.to_numeric(values).astype(float)
    return out


def _all(values: pd.Series, test) -> bool:
    present = values.dropna()
    return len(present) > 0 and all(test(v) for v in present)
