"""Results as pandas tables: one row per configuration of each file, the form analysis and display read.

Columns, in order
-----------------
Exactly `bench.results.record.COLUMNS`: the stored checksum `key`, `run_id`, the replicated `pass`,
`variant` (model with options), the identity fields `model`, `options` (JSON text), `batch`, `seq_len`,
`d_model`, `n_heads`, `causal`, `dtype`, `device`, `mode`, `scope`, `compile` (eager or the torch.compile
mode), `tf32`; outcome `status` (ok/oom/error/timeout/skipped) and `error`
(traceback tail); timing statistics in seconds over the timed samples `n_samples`, `median_s`, `iqr_s`,
`p10_s`, `p90_s`, `mean_s`, `min_s`, `noisy` (IQR/median > 10 %), `cold_s` (first call), `tokens_per_s`
(batch*seq_len / median), the raw `samples_s` list, `threads`, `timer`; memory in bytes `peak_bytes`
(above the pre-run baseline), `weights_bytes`, `inputs_bytes`, `cuda_peak_allocated_bytes`,
`cuda_peak_reserved_bytes`, `nvml_process_bytes` and `memory_method`; FLOPs per call `flops_analytic`,
`flops_analytic_elementwise`, `flops_counted` (FlopCounterMode), `flops_per_s`, `flops_agree`; for compiled
configurations `compile_s` (first call less the steady median), `compile_first_call_s`, `compile_graphs`;
`predicted_s`/`predicted_bytes`/`skip_reason` (for skipped configurations); energy per call
(bench.measure.energy, where an energy pass ran) `energy_source` (nvml_counter, rapl or unavailable),
`energy_j_per_call` (gross), `energy_net_j_per_call` (less the idle power just before), the same per token
`energy_j_per_token`/`energy_net_j_per_token`, `energy_idle_w`, `energy_window_s`, `energy_calls`,
`energy_reason` (why there are no figures) and the GPU's `gpu_temperature_c`, `gpu_power_w` and
`gpu_sm_clock_mhz` after the window; where it ran `executor`, `placement`, `host`, `slot`, `device_uuid`,
`attempts`, `others_on_device`; then `kernel`, `param_count`, the layer's declared
`complexity_time`/`complexity_memory` in sequence length, `env_id`, `device_name`, `timestamp` (Unix time)
and `duration_s` (wall time of the whole measurement).

After them come `hardware` (`bench.results.identity.hardware_key` of the row's environment and device,
None when the environment is unknown), `probe_flops_per_s` (the machine-speed probe's matmul rate at
the row's device, dtype and width, from the same file: bench.measure.probe; None when none was
measured), then environment columns, sorted: every top-level scalar field of
the fingerprint the row's `env_id` names, prefixed `env_` (e.g. `env_torch_version`, `env_cpu_model`).
Several files are concatenated: the same configuration measured in two files gives two rows (told apart
by `run_id`).

Dtypes
------
The integer columns (INTEGER_COLUMNS: `pass`, the shape, counts, bytes, FLOPs, ...) are pandas' nullable
"Int64" and the boolean ones (BOOLEAN_COLUMNS: `causal`, `tf32`, `noisy`, `flops_agree`) "boolean", so a
missing value is pd.NA and never turns a column into float64 or object; env_* columns whose values are
all integers or all booleans get the same dtypes. Other numbers are float64 (NaN when missing; a column
no row has a value for holds None), text is text. bench.results.export writes the table as CSV.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from bench.results.identity import hardware_key
from bench.results.record import COLUMNS, Record
from bench.results.store import ResultStore, StorageError, StorageWarning, StoreContents

HARDWARE = "hardware"
PROBE_COLUMNS = ("probe_flops_per_s",)
_SCALARS = (str, int, float, bool, type(None))
# The columns of COLUMNS that hold integers and booleans, typed "Int64" and "boolean" (pandas' nullable
# dtypes: a missing value is pd.NA, and an integer column with one stays integer). Every other column of
# COLUMNS is float64 (NaN when missing) or text; env_* columns get the dtype their values have.
INTEGER_COLUMNS = (
    "pass", "batch", "seq_len", "d_model", "n_heads", "n_samples", "threads", "peak_bytes", "weights_bytes",
    "inputs_bytes", "cuda_peak_allocated_bytes", "cuda_peak_reserved_bytes", "nvml_process_bytes",
    "flops_analytic", "flops_analytic_elementwise", "flops_counted", "compile_graphs", "energy_calls",
    "gpu_temperature_c", "gpu_sm_clock_mhz", "attempts", "others_on_device", "param_count")
BOOLEAN_COLUMNS = ("causal", "tf32", "noisy", "flops_agree")


def probe_rate(probes: Sequence[Mapping], row: Mapping) -> float | None:
    """The matmul rate of the probes at the row's device, dtype and width: the median over its own run's
    (one per pass) at its thread count when there are such, else over any run's in the file; None when
    no probe matches."""
    matching = [p for p in probes if (p.get("device"), p.get("dtype"), p.get("d_model")) ==
                (row["device"], row["dtype"], row["d_model"]) and p.get("flops_per_s")]
    own = [p for p in matching if p.get("run_id") == row["run_id"]] or matching
    chosen = [p for p in own if p.get("threads_used") == row["threads"]] or own
    return float(statistics.median(p["flops_per_s"] for p in chosen)) if chosen else None


def records_table(records: Iterable[Record], environments: Mapping[str, Mapping] | None = None,
                  probes: Sequence[Mapping] = ()) -> pd.DataFrame:
    """The table of some records, joined with the fingerprints (env_id -> fingerprint) they refer to and
    the machine-speed probes measured beside them."""
    rows = []
    env_columns: set[str] = set()
    for record in records:
        row = record.row()
        fingerprint = (environments or {}).get(record.env_id)
        row[HARDWARE] = hardware_key(fingerprint, record.config.device) if _known(fingerprint) else None
        row["probe_flops_per_s"] = probe_rate(probes, row)
        env = environment_columns(fingerprint or {})
        env_columns.update(env)
        row.update(env)
        rows.append(row)
    columns = [*COLUMNS, HARDWARE, *PROBE_COLUMNS, *sorted(env_columns)]
    table = pd.DataFrame(rows, columns=columns)
    for name in _typed_columns(columns, rows):  # from the values themselves: no trip through float64
        table[name] = _typed([row.get(name) for row in rows], _dtype(name, rows))
    return table


def load_results(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Results of one or more files as one table (see the module docstring for its columns)."""
    frames = []
    for path in _as_paths(paths):
        contents = read_file(path)
        frames.append(records_table(contents.records, contents.environments, contents.probes))
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return with_dtypes(pd.DataFrame(columns=columns))
    if len(frames) == 1:
        return frames[0]
    return with_dtypes(pd.concat(frames, ignore_index=True)[columns])


def with_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its integer and boolean columns (INTEGER_COLUMNS, BOOLEAN_COLUMNS and the env_* columns
    whose values are all integers or all booleans) in the nullable dtypes "Int64" and "boolean"; a column
    whose values do not fit its dtype is left as it is."""
    rows = table.to_dict("records")
    out = table.copy()
    for name in _typed_columns(list(table.columns), rows):
        dtype = _dtype(name, rows)
        if str(out[name].dtype) != dtype:
            out[name] = _typed([None if _missing(v) else v for v in table[name].tolist()], dtype)
    return out


def _typed_columns(columns: Sequence[str], rows: Sequence[Mapping]) -> list[str]:
    return [name for name in columns if name in INTEGER_COLUMNS or name in BOOLEAN_COLUMNS
            or (name.startswith("env_") and _dtype(name, rows) is not None)]


def _dtype(name: str, rows: Sequence[Mapping]) -> str | None:
    """ "Int64", "boolean" or None (neither) for a column: declared for COLUMNS, from the values for env_*."""
    if name in INTEGER_COLUMNS:
        return "Int64"
    if name in BOOLEAN_COLUMNS:
        return "boolean"
    values = [row.get(name) for row in rows if not _missing(row.get(name))]
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "Int64"
    return None


def _typed(values: list, dtype: str | None) -> pd.api.extensions.ExtensionArray | list:
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):  # e.g. a fractional byte count in a hand-edited file: kept as it is
        return values


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def environment_columns(fingerprint: Mapping) -> dict[str, object]:
    """The fingerprint's top-level scalar fields as `env_<name>` columns (nested values are left out)."""
    columns = {f"env_{name}": value for name, value in fingerprint.items() if isinstance(value, _SCALARS)}
    return {name: value for name, value in columns.items() if name not in COLUMNS}


def read_file(path: str | Path) -> StoreContents:
    """An existing results file's contents, with its recoverable problems warned about."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no results file at {path}; give the path `run_bench.py run --out` wrote")
    contents = ResultStore(path).read()
    for problem in contents.problems:
        warnings.warn(problem, StorageWarning, stacklevel=3)
    return contents


def _known(fingerprint: Mapping | None) -> bool:
    return bool(fingerprint) and bool(fingerprint.get("cpu_model") or fingerprint.get("gpu_name"))


def _as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]
