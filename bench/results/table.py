"""Results as pandas tables: one row per configuration of each file, the form analysis and display read.

Columns, in order
-----------------
Exactly `bench.results.record.COLUMNS`: the stored checksum `key`, `run_id`, `variant` (model with
options), the identity fields `model`, `options` (JSON), `batch`, `seq_len`, `d_model`, `n_heads`,
`causal`, `dtype`, `device`, `mode`, `scope`; outcome `status` (ok/oom/error/timeout/skipped) and `error`
(traceback tail); timing statistics in seconds over the timed samples `n_samples`, `median_s`, `iqr_s`,
`p10_s`, `p90_s`, `mean_s`, `min_s`, `noisy` (IQR/median > 10 %), `cold_s` (first call), `tokens_per_s`
(batch*seq_len / median), the raw `samples_s` list, `threads`, `timer`; memory in bytes `peak_bytes`
(above the pre-run baseline), `weights_bytes`, `inputs_bytes`, `cuda_peak_allocated_bytes`,
`cuda_peak_reserved_bytes`, `nvml_process_bytes` and `memory_method`; FLOPs per call `flops_analytic`,
`flops_analytic_elementwise`, `flops_counted` (FlopCounterMode), `flops_per_s`, `flops_agree`;
`predicted_s`/`predicted_bytes`/`skip_reason` (for skipped configurations); energy per call
(bench.measure.energy, where an energy pass ran) `energy_source` (nvml_counter, rapl or unavailable),
`energy_j_per_call` (gross), `energy_net_j_per_call` (less the idle power just before), the same per token
`energy_j_per_token`/`energy_net_j_per_token`, `energy_idle_w`, `energy_window_s`, `energy_calls`,
`energy_reason` (why there are no figures) and the GPU's `gpu_temperature_c`, `gpu_power_w` and
`gpu_sm_clock_mhz` after the window; where it ran `executor`, `placement`, `host`, `slot`, `device_uuid`,
`attempts`; then `kernel`, `param_count`, the layer's declared `complexity_time`/`complexity_memory` in
sequence length, `env_id`, `device_name`, `timestamp` (Unix time) and `duration_s` (wall time of the whole measurement).

After them come `hardware` (`bench.results.identity.hardware_key` of the row's environment and device,
None when the environment is unknown), `probe_flops_per_s` (the machine-speed probe's matmul rate at
the row's device, dtype and width, from the same file: bench.measure.probe; None when none was
measured), then environment columns, sorted: every top-level scalar field of
the fingerprint the row's `env_id` names, prefixed `env_` (e.g. `env_torch_version`, `env_cpu_model`).
Several files are concatenated: the same configuration measured in two files gives two rows (told apart
by `run_id`).
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
    return pd.DataFrame(rows, columns=[*COLUMNS, HARDWARE, *PROBE_COLUMNS, *sorted(env_columns)])


def load_results(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Results of one or more files as one table (see the module docstring for its columns)."""
    frames = []
    for path in _as_paths(paths):
        contents = read_file(path)
        frames.append(records_table(contents.records, contents.environments, contents.probes))
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns] if len(frames) > 1 else frames[0]


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
