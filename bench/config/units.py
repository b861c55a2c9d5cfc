"""Parsing and formatting of byte sizes and durations for flags, sweep files and reports."""

from __future__ import annotations

import re

_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}


def parse_bytes(text: str | int) -> int:
    """'4GiB' -> 4294967296; accepts plain integers and SI (GB) or binary (GiB) suffixes."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError(f"a memory size must be positive, got {text}")
        return text
    if str(text).strip().startswith("-"):
        raise ValueError(f"a memory size must be positive, got {text!r}")
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _BYTE_UNITS:
        raise ValueError(f"cannot read memory size {text!r}; write e.g. 512MiB, 4GiB or 2GB")
    value = int(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"a memory size must be positive, got {text!r}")
    return value


def format_bytes(n: float | None) -> str:
    """Human-readable binary size, e.g. 1.5 GiB; '-' for missing values."""
    if n is None or n != n:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} TiB"


def format_seconds(s: float | None) -> str:
    """Duration with a unit that keeps three significant digits, e.g. 12.3 ms; '-' for missing values."""
    if s is None or s != s:
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"
