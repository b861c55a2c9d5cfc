"""Throughput: achieved FLOP/s of each measured configuration, its fraction of the GPU's dense peak and
of the machine's matmul rate measured in the same run (bench.measure.probe)."""

from __future__ import annotations

import pandas as pd

from bench.analysis.series import MODEL_KEYS, SETTING_KEYS, ok_rows, plain_value

# non-tensor-core rate: PyTorch leaves TF32 off for matmuls by default. Names containing an excluded
# substring (PCIe / NVL boards with lower clocks) get no peak rather than a wrong one.
PEAK_FLOPS_SOURCE = "vendor datasheet"
PEAK_FLOPS = (
    ("H100", ("PCIe", "NVL"), {"bfloat16": 989e12, "float16": 989e12, "tf32": 494e12, "float32": 67e12}),
    ("H200", ("NVL",), {"bfloat16": 989e12, "float16": 989e12, "tf32": 494e12, "float32": 67e12}),
    ("A100", (), {"bfloat16": 312e12, "float16": 312e12, "float32": 19.5e12}),
    ("V100-SXM", (), {"float16": 125e12, "float32": 15.7e12}),
)


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
    "flops_per_s", "peak_flops_per_s", "fraction_of_peak", "peak_source", "probe_flops_per_s", "gemm_fraction",
    "overhead_bound",
)


def achieved_flops(df: pd.DataFrame) -> pd.DataFrame:
    """Achieved FLOP/s of each ok row that has a FLOP count, and its fraction of the GPU's dense peak
    (and, in a `config_table`, of the run's measured matmul rate, with the overhead-bound mark).

    The work is the counted FLOPs when present, else the analytic count (as in Record.row()). The peak
    is only given for GPUs listed in PEAK_FLOPS and only for CUDA rows; otherwise it is left empty.
    """
    rows = []
    for _, row in ok_rows(df, "flops_per_s").iterrows():
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
            **{k: row.get(k) for k in ("probe_flops_per_s", "gemm_fraction", "overhead_bound")},
        })
    return pd.DataFrame(rows, columns=list(ACHIEVED_COLUMNS))
