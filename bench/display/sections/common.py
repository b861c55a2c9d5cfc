"""Formatting the report's sections share: numbers, and the setting and series of a table row."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from bench.results.identity import HARDWARE_FIELD, SeriesKey, compile_mode, flag


def number(value: object, digits: int = 3) -> str:
    """A float to `digits` significant digits; '-' when missing."""
    return "-" if value is None or pd.isna(value) else f"{float(value):.{digits}g}"


def integer(value: object) -> str:
    """An integer (pandas may hold it as a float); '-' when missing."""
    return "-" if value is None or pd.isna(value) else str(int(value))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number, e.g. `1 configuration`, `2 configurations`."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def where(row: Mapping) -> str:
    """The device a row ran on, with its hardware name when known, e.g. `cuda (NVIDIA H200)`."""
    name = row.get(HARDWARE_FIELD)
    return f"{row['device']} ({name})" if isinstance(name, str) and name else str(row["device"])


def setting(row: Mapping) -> str:
    """A row's setting for people: device, dtype (+tf32), mode, scope, compile mode unless eager, causality."""
    causal = ", causal" if flag(row.get("causal")) else ""
    dtype = f"{row['dtype']}+tf32" if flag(row.get("tf32")) else row["dtype"]
    compiled = compile_mode(row.get("compile"))
    compiled = "" if compiled == "eager" else f", {compiled}"
    return f"{where(row)}, {dtype}, {row['mode']}, {row['scope']}{compiled}{causal}"


def conditions(configs: pd.DataFrame, row: Mapping) -> str:
    """The conditions a headline number of `row` holds under: dtype (+tf32), backend (eager or the compile
    mode, PyTorch's version, and the SDPA kernel that ran in the same setting) and device, e.g.
    `float32, eager PyTorch 2.11 (sdpa: flash), cuda: NVIDIA H200`."""
    compiled, tf32 = compile_mode(row.get("compile")), flag(row.get("tf32"))
    same = (configs["device"] == row["device"]) & (configs["dtype"] == row["dtype"])
    if "compile" in configs.columns:
        same &= configs["compile"].map(compile_mode) == compiled
    if "tf32" in configs.columns:
        same &= configs["tf32"].map(flag) == tf32
    rows = configs[same]
    versions = sorted({str(v) for v in rows.get("env_torch_version", pd.Series(dtype=object)).dropna()})
    kernels = sorted({str(k) for k in rows.loc[rows["model"] == "sdpa", "kernel"].dropna()})
    backend = f"{compiled} PyTorch" + (f" {'/'.join(versions)}" if versions else "")
    if kernels:
        backend += f" (sdpa: {'/'.join(kernels)})"
    name = row.get("device_name")
    name = name if isinstance(name, str) and name else "unknown device"
    return f"{row['dtype']}{'+tf32' if tf32 else ''}, {backend}, {row['device']}: {name}"


def series(key: SeriesKey) -> str:
    """A series' coupling and the values it holds fixed, e.g. `fixed: batch=1, d_model=256, n_heads=4`."""
    return f"{key.coupling}: {key.fixed_label()}"


def paragraphs(*parts: str) -> str:
    """Blocks of Markdown separated by blank lines."""
    return "\n\n".join(parts)
