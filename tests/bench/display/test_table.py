"""The one table helper: missing values as '-', aligned text, escaped Markdown."""

from __future__ import annotations

import math

from bench.display.table import cell, markdown_table, text_table


def test_missing_values_print_as_a_dash():
    assert cell(None) == "-" and cell(math.nan) == "-" and cell(0) == "0" and cell("x") == "x"


def test_text_table_pads_columns_and_strips_trailing_space():
    text = text_table(("a", "long header"), [("wide cell", 1), (None, 22)])
    assert text.splitlines() == ["a          long header", "wide cell  1", "-          22"]


def test_text_table_with_a_rule_and_separator():
    text = text_table(("x", "y"), [(1, 2)], sep=" | ", rule="-+-")
    assert text.splitlines() == ["x | y", "--+--", "1 | 2"]


def test_markdown_table_escapes_pipes_and_newlines():
    text = markdown_table(("k", "v"), [("a|b", "line 1\nline 2"), ("n", None)])
    assert text.splitlines() == ["| k | v |", "|---|---|", "| a\\|b | line 1 line 2 |", "| n | - |"]
