"""The one error of the gate: its input (baseline, policy or results) cannot be used."""

from __future__ import annotations


class GateError(ValueError):
    """The gate cannot run on its input (baseline, policy or results); the message names the fix."""
