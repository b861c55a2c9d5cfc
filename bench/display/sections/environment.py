"""The environment fingerprints the run's results were measured in, one table per fingerprint."""

from __future__ import annotations

import json

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs
from bench.display.table import cell, markdown_table

# Fields shown under another name: what they are is not what their key suggests.
ENV_LABELS = {"torch_threads": "torch_threads (default of the measuring process; each configuration sets its own, "
                               "see the Results table's threads column)"}
# Fields shown first, in this order; the rest follow sorted.
ENV_ORDER = (
    "torch_version", "cuda_version", "cudnn_version", "gpu_name", "gpu_count", "gpu_memory_bytes",
    "driver_version", "cpu_model", "cpu_logical_cores", "cpu_physical_cores", "torch_threads",
    "python_version", "os", "kernel", "machine", "git_commit", "git_dirty", "packages",
)


def _value(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()) if v is not None) or "-"
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return cell(value)


@section(order=90)
def render(ctx: ReportContext) -> str:
    """Field and value of every fingerprint (a bare fingerprint is shown as `environment`)."""
    environments = ctx.environments
    if not environments:
        return paragraphs("## Environment", "No environment fingerprint was recorded.")
    if not all(isinstance(v, dict) for v in environments.values()):
        environments = {"environment": environments}
    parts = ["## Environment"]
    for env_id, fingerprint in environments.items():
        keys = [k for k in ENV_ORDER if k in fingerprint] + sorted(k for k in fingerprint if k not in ENV_ORDER)
        parts.append(f"### {env_id}")
        parts.append(markdown_table(("field", "value"), [(ENV_LABELS.get(k, k), _value(fingerprint[k])) for k in keys]))
    return paragraphs(*parts)
