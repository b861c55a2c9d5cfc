"""The command line's entry point: every subcommand explains itself; no subcommand is bad input."""

from __future__ import annotations

from bench.cli import COMMANDS, build_parser
from tests.bench.cli.conftest import cli


def test_help_explains_every_subcommand():
    for sub in ("run", "report", "compare", "list-models", "selfcheck", "gate"):
        done = cli(sub, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout


def test_every_command_module_registers_its_subcommand():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert len(choices) == len(COMMANDS) == 6


def test_run_bench_py_is_only_the_entry_point():
    from tests.bench.cli.conftest import REPO

    assert len((REPO / "run_bench.py").read_text().splitlines()) < 12
