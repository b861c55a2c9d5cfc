"""The one table helper every printer uses: aligned plain text for the terminal, Markdown for reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell(value: object) -> str:
    """A value as table text: None and NaN print as '-'."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return str(value)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, sep: str = "  ",
               rule: str | None = None) -> str:
    """Columns padded to their widest cell and joined by `sep`; with `rule` (e.g. "-+-") a line of
    dashes joined by it goes under the header."""
    table = [[str(h) for h in headers], *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = [sep.join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
             for line in table]
    if rule is not None:
        lines.insert(1, rule.join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; pipes in cells are escaped and newlines become spaces."""
    def escape(value: object) -> str:
        return cell(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
