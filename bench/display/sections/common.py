"""Formatting the report's sections share: numbers, and the setting and series of a table row."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bench.results.identity import HARDWARE_FIELD, SeriesKey


def number(value: object, digits: int = 3) -> str:
    """A float to `digits` significant digits; '-' when missing."""
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}g}"


def integer(value: object) -> str:
    """An integer (pandas may hold it as a float); '-' when missing."""
    return "-" if value is None or pd.isna(value) else str(int(value))


def where(row: Mapping) -> str:
    """The device a row ran on, with its hardware name when known, e.g. `cuda (NVIDIA H200)`."""
    name = row.get(HARDWARE_FIELD)
    return f"{row['device']} ({name})" if isinstance(name, str) and name else str(row["device"])


def setting(row: Mapping) -> str:
    """A row's setting for people: device, dtype, mode, scope and causality."""
    causal = ", causal" if str(row.get("causal")) == "True" else ""
    return f"{where(row)}, {row['dtype']}, {row['mode']}, {row['scope']}{causal}"


def conditions(configs: pd.DataFrame, device: str, dtype: str, device_name: object) -> str:
    """The conditions a headline number holds under: dtype, backend (eager PyTorch with its version, and
    the SDPA kernel that ran) and device, e.g. `float32, eager PyTorch 2.11 (sdpa: flash), cuda: NVIDIA H200`."""
    rows = configs[(configs["device"] == device) & (configs["dtype"] == dtype)]
    versions = sorted({str(v) for v in rows.get("env_torch_version", pd.Series(dtype=object)).dropna()})
    kernels = sorted({str(k) for k in rows.loc[rows["model"] == "sdpa", "kernel"].dropna()})
    backend = "eager PyTorch" + (f" {'/'.join(versions)}" if versions else "")
    if kernels:
        backend += f" (sdpa: {'/'.join(kernels)})"
    name = device_name if isinstance(device_name, str) and device_name else "unknown device"
    return f"{dtype}, {backend}, {device}: {name}"


def series(key: SeriesKey) -> str:
    """A series' coupling and the values it holds fixed, e.g. `fixed: batch=1, d_model=256, n_heads=4`."""
    return f"{key.coupling}: {key.fixed_label()}"


def paragraphs(*parts: str) -> str:
    """Blocks of Markdown separated by blank lines."""
    return "\n\n".join(parts)
