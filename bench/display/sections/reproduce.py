"""The command line that reproduces the run, and for a user's layer where its code came from.

A user's layer is named by a module or a file the command line must find again: the section gives the
PYTHONPATH that makes a dotted name importable (the folder above its top package), the file, and the
SHA-256 the file had when it was measured, so a rerun can check it is the same code.
"""

from __future__ import annotations

from pathlib import PurePath

from bench.display.context import ReportContext
from bench.display.sections import section
from bench.display.table import markdown_table


def import_root(model: str, file: str) -> str | None:
    """The folder to put on PYTHONPATH for `package.module:Class` defined in `file`; None for a file path."""
    module = model.rpartition(":")[0]
    if module.endswith(".py") or "/" in module:
        return None
    depth = len(module.split("."))
    path = PurePath(file)
    if path.name == "__init__.py":
        path = path.parent
    return str(path.parents[depth - 1])


@section(order=100)
def render(ctx: ReportContext) -> str:
    """The run's command in a code block; for user layers a PYTHONPATH line and their files' hashes."""
    parts = ["## Reproduce"]
    df = ctx.df
    users = df[df["model_file"].notna()] if "model_file" in df else df.iloc[:0]
    sources = users.drop_duplicates(["model", "model_file", "model_sha256"])
    roots = sorted({root for row in sources.itertuples() if (root := import_root(row.model, row.model_file))})
    command = ctx.command
    if roots:
        command = f"PYTHONPATH={':'.join(roots)} {command}"
    parts.append(f"```\n{command}\n```")
    if len(sources):
        parts.append("Your layers were measured from these files; check that a rerun uses the same code "
                     "(`sha256sum FILE`):")
        parts.append(markdown_table(("model", "file", "SHA-256"),
                                    [(row.model, row.model_file, row.model_sha256) for row in sources.itertuples()]))
    return "\n\n".join(parts)
