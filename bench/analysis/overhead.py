"""Work, not overhead: which configurations' calls are dominated by a fixed cost (launches, dispatch).

A configuration is overhead-bound when
- its time does not grow with its FLOPs: another configuration of the same layer, setting and hardware
  does at least WORK_STEP times its FLOPs in at most TIME_STEP times its time, even comparing the other's
  slowest pass with this one's fastest (so noise between passes cannot fake a flat time); or
- its achieved FLOP rate is below OVERHEAD_FRACTION of the reference rate: the machine-speed probe's
  matmul rate at its device, dtype and width (config_table's `gemm_fraction`, from bench.measure.probe)
  when the run measured one, else the best rate any configuration of the same device, dtype and hardware reached.
Overhead-bound sizes stay in tables and plots, marked, and are kept out of verdicts and claims: their
times measure the floor, not the layer. In a series whose batch is tokens / N a layer under a fixed
floor has a per-sequence time that grows like N, so this check is what keeps it from being called
linear.
"""

from __future__ import annotations

import pandas as pd

from bench.results.identity import SETTING_FIELDS

WORK_STEP = 2.0
TIME_STEP = 1.25
OVERHEAD_FRACTION = 0.02
SAME_LAYER = ("model", "options", *SETTING_FIELDS, "hardware")
SAME_DEVICE = ("device", "dtype", "hardware")


def work_of(row: dict) -> float | None:
    """FLOPs of one call: FlopCounterMode's count, else the layer's analytic count; None when unknown."""
    for name in ("flops_counted", "flops_analytic"):
        value = row.get(name)
        if value is not None and not pd.isna(value) and value > 0:
            return float(value)
    return None


def _key(row: dict, names: tuple[str, ...]) -> tuple:
    return tuple("" if row.get(n) is None or (isinstance(row.get(n), float) and pd.isna(row.get(n)))
                 else str(row.get(n)) for n in names)


def _pass_range(row: dict) -> tuple[float, float]:
    """The fastest and slowest pass median of a configuration (its median when it has no passes)."""
    medians = row.get("pass_medians_s")
    if isinstance(medians, list) and medians:
        return min(medians), max(medians)
    return row["median_s"], row["median_s"]


def _flat_time_reason(row: dict, others: list[dict]) -> str | None:
    work, (fastest, _) = work_of(row), _pass_range(row)
    time = row["median_s"]
    for other in others:
        other_work = work_of(other)
        if work and other_work and other_work >= WORK_STEP * work and _pass_range(other)[1] <= TIME_STEP * fastest:
            return (f"N={int(other['seq_len'])} B={int(other['batch'])} d={int(other['d_model'])} does "
                    f"{other_work / work:.1f}x its FLOPs in {other['median_s'] / time:.2f}x its time")
    return None


def _rate_reason(row: dict, best: dict[tuple, float]) -> str | None:
    rate = row.get("flops_per_s")
    if rate is None or pd.isna(rate):
        return None
    fraction = row.get("gemm_fraction")  # config_table's rate over the probe's, where a probe matched
    if fraction is not None and not pd.isna(fraction):
        what = "the machine's matmul rate at this width"
    else:
        reference = best.get(_key(row, SAME_DEVICE), 0.0)
        fraction, what = (rate / reference if reference > 0 else None), "the best rate of this run on this device"
    if fraction is not None and fraction < OVERHEAD_FRACTION:
        return f"{fraction:.1%} of {what}"
    return None


def mark_overhead(configs: pd.DataFrame) -> pd.DataFrame:
    """`configs` (one row per configuration) with `overhead_bound` (bool; None when not ok) and
    `overhead_reason` set by the rules of the module docstring."""
    out = configs.copy()
    rows = out.to_dict("records")
    is_ok = [r.get("status") == "ok" and bool(r.get("median_s")) and not pd.isna(r["median_s"]) for r in rows]
    ok = [r for r, good in zip(rows, is_ok, strict=True) if good]
    by_layer: dict[tuple, list[dict]] = {}
    best: dict[tuple, float] = {}
    for row in ok:
        by_layer.setdefault(_key(row, SAME_LAYER), []).append(row)
        rate = row.get("flops_per_s")
        if rate is not None and not pd.isna(rate):
            device = _key(row, SAME_DEVICE)
            best[device] = max(best.get(device, 0.0), float(rate))
    bound, reasons = [], []
    for row, good in zip(rows, is_ok, strict=True):
        if not good:
            bound.append(None)
            reasons.append(None)
            continue
        reason = _flat_time_reason(row, by_layer[_key(row, SAME_LAYER)]) or _rate_reason(row, best)
        bound.append(reason is not None)
        reasons.append(reason)
    out["overhead_bound"] = pd.Series(bound, index=out.index, dtype=object)
    out["overhead_reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out
