"""Where the run's configurations ran: executor, placement policy, hosts and devices, and retried tasks.

Placement decides how far the numbers can be trusted: under `exclusive` a device measured one
configuration at a time; under `packed` several shared it, so every time includes their interference.
"""

from __future__ import annotations

import pandas as pd

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.sections.common import paragraphs
from bench.display.table import markdown_table

MEANING = {
    "exclusive": "one configuration per device at a time: no other configuration of this run shared its device",
    "packed": "several configurations shared each device at once: every number here was measured under "
              "interference from the others, so use them to explore, and placement exclusive for headline numbers",
}


@section(order=85)
def render(ctx: ReportContext) -> str:
    """A line per placement policy, a table of the hosts and devices used, and the configurations retried."""
    df = ctx.df
    if "placement" not in df or df["placement"].isna().all():
        return paragraphs("## Where it ran", "Not recorded: these results predate executors recording where "
                                             "each configuration ran.")
    ran = df[df["placement"].notna()]
    lines = []
    for policy, rows in ran.groupby("placement"):
        executors = ", ".join(sorted(rows["executor"].dropna().unique()))
        lines.append(f"- **{policy}** ({len(rows)} records, executor {executors}): {MEANING.get(policy, policy)}.")
    groups = ran.fillna({"host": "-", "slot": "-", "device_uuid": "-"}).groupby(["host", "slot", "device_uuid"])
    table = markdown_table(("host", "device", "GPU UUID", "records"),
                           [(host, slot, uuid, len(rows)) for (host, slot, uuid), rows in groups])
    parts = ["## Where it ran", "\n".join(lines), table]
    others = pd.to_numeric(ran.get("others_on_device"), errors="coerce")
    crowded = ran[(ran["placement"] == "exclusive") & (others > 0)] if others is not None else ran.iloc[:0]
    if len(crowded):
        parts.append(f"**Warning**: {len(crowded)} exclusive record(s) started with another process on their GPU "
                     f"(NVML; up to {int(others.max())}), from outside this run: those numbers include its "
                     f"interference.")
    retried = ran[pd.to_numeric(ran["attempts"], errors="coerce").fillna(1) > 1]
    if len(retried):
        parts.append(f"{len(retried)} record(s) needed more than one attempt (a crashed task was run again): "
                     + ", ".join(f"{row.variant} N={row.seq_len} ({int(row.attempts)} attempts)"
                                 for row in retried.itertuples()) + ".")
    return paragraphs(*parts)
