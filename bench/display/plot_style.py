"""How the plots look, the same in every report: a fixed colour per model, causal series dashed, axis labels
in words, legend labels that repeat nothing the title says, and each figure saved as a PNG (at DPI) with a
PDF beside it for print.

A registered model has its colour in MODEL_COLORS; any other (a user's layer) gets one derived from a hash
of its name, so it too keeps its colour from run to run. A variant with options (e.g.
`fastformer[scorer=official]`) is a shade of its model's colour, chosen by a hash of its options.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Resolution of the PNG files: enough to print at a column's width; the PDF beside each is vector.
DPI = 150
MODEL_COLORS = {
    "fastformer": "#1f77b4", "sdpa": "#ff7f0e", "softmax": "#2ca02c", "linear": "#d62728", "performer": "#9467bd",
    "linformer": "#8c564b", "nystromformer": "#e377c2", "cosformer": "#17becf", "longformer": "#bcbd22",
    "bigbird": "#393b79", "poolingformer": "#8c6d31", "block": "#7b4173",
}
# Shades of a model's colour for its variants with options: (mix with white (+) or black (-), by how much).
SHADES = (-0.35, 0.4, -0.55, 0.6)
AXIS_LABELS = {"seq_len": "sequence length N (tokens)", "batch": "batch size B", "d_model": "model width d"}
AXIS_WORDS = {"seq_len": "sequence length", "batch": "batch size", "d_model": "model width"}
AXIS_SHORT = {"seq_len": "N", "batch": "B", "d_model": "d"}
TIME_LABEL = "time per call (s), median"
MEMORY_LABEL = "peak memory of activations (MiB)"
# How the legend names the outcomes of configurations that were not measured (bench.results.record.NOT_FITTING).
STATUS_WORDS = {"oom": "out of memory", "timeout": "timed out", "skipped": "skipped"}


def _digest(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def _model_color(model: str) -> tuple[float, float, float]:
    if model in MODEL_COLORS:
        return matplotlib.colors.to_rgb(MODEL_COLORS[model])
    return colorsys.hsv_to_rgb(_digest(model) / 2**32, 0.65, 0.75)


def variant_color(variant: str) -> tuple[float, float, float]:
    """The colour of a variant: its model's, shaded by its options when it has any."""
    model, _, options = variant.partition("[")
    base = _model_color(model)
    if not options:
        return base
    amount = SHADES[_digest(options) % len(SHADES)]
    target = 1.0 if amount > 0 else 0.0
    return tuple(c + (target - c) * abs(amount) for c in base)  # type: ignore[return-value]


def linestyle(causal: bool) -> str:
    """Dashed for a causal series, solid otherwise."""
    return "--" if causal else "-"


def marker(causal: bool, scope: str) -> str:
    """The point marker: a circle, a triangle when causal, squares and diamonds for a whole-block scope."""
    if scope == "attention":
        return "^" if causal else "o"
    return "D" if causal else "s"


def setting_words(causal: bool, scope: str) -> list[str]:
    """What tells a series apart from another of its variant in one figure: causality and scope."""
    return (["causal"] if causal else []) + ([f"{scope} scope"] if scope != "attention" else [])


def legend_label(variant: str, notes: Sequence[str]) -> str:
    """A legend label: the variant, then its notes in brackets, e.g. `fastformer (causal, oom from N=8192)`."""
    notes = [n for n in notes if n]
    return f"{variant} ({', '.join(notes)})" if notes else variant


def shared_and_own(fixed: Sequence[Sequence[tuple[str, int]]]) -> tuple[list[str], list[list[str]]]:
    """The fixed values every series of a figure shares (for its title) and, per series, those it does not
    (for its legend label), as `name=value` texts."""
    sets = [set(f) for f in fixed]
    shared = set.intersection(*sets) if sets else set()
    texts = [[f"{name}={value}" for name, value in f if (name, value) not in shared] for f in fixed]
    first = fixed[0] if fixed else ()
    return [f"{name}={value}" for name, value in first if (name, value) in shared], texts


def failure_note(failed: dict[str, float], axis: str) -> str:
    """A legend note for a series' unmeasured sizes: each status from its smallest size, e.g. `oom from N=8192`."""
    return ", ".join(f"{STATUS_WORDS.get(status, status)} from {AXIS_SHORT[axis]}={x:g}"
                     for status, x in sorted(failed.items(), key=lambda item: item[1]))


def save(fig: plt.Figure, path: Path) -> Path:
    """Write `fig` as the PNG `path` (DPI) and as a PDF beside it (same name; no creation date, so the same
    figure gives the same file); close it; return `path`."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    fig.savefig(path.with_suffix(".pdf"), metadata={"CreationDate": None})
    plt.close(fig)
    return path
