"""The result of one instrument self-check, as data (torch-free, so display can show it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One instrument check: what was measured, what was expected, their ratio (or error) and the verdict."""

    name: str
    measured: float
    expected: float
    ratio_or_error: float
    passed: bool
    detail: str
