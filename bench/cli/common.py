"""What every subcommand shares: exit codes, the one-line usage error and loading a results file."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_REPORTS = Path("reports")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


@dataclass(frozen=True)
class LoadedResults:
    """One results file read once: its table, environments and the command that made it."""

    path: Path
    table: pd.DataFrame
    environments: dict
    command: str


def results_argument(given: str) -> Path:
    """The results file a RESULTS argument names: the file, or a run folder's results.jsonl."""
    path = Path(given)
    if path.is_dir():
        if not (path / "results.jsonl").is_file():
            raise UsageError(f"{path} is a folder without a results.jsonl; give a results file or a run's folder")
        return path / "results.jsonl"
    if not path.exists():
        raise UsageError(f"results file {path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a regular file; give a results.jsonl file")
    return path


def load_results_file(results_path: Path) -> LoadedResults:
    """Read a results file once; a file the store rejects is a UsageError. Rows of layers that carry no
    declared complexity (files from before records stored it) get the class the layer declares now."""
    from bench.results.store import ResultStore, StorageError
    from bench.results.table import read_file, records_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            contents = read_file(results_path)
        except StorageError as exc:
            raise UsageError(str(exc)) from exc
    if not contents.records:
        raise UsageError(f"{results_path} holds no results: not a results.jsonl written by `run_bench.py run`, "
                         f"or a run that stopped before its first configuration finished")
    for warning in caught:  # a repaired torn line: said in one line, not as a Python warning
        print(f"warning: {warning.message}", file=sys.stderr)
    info = ResultStore(results_path).run_info(contents)
    command = info.command if info else f"(the command that made {results_path} was not recorded)"
    table = with_declared_complexity(records_table(contents.records, contents.environments, contents.probes))
    return LoadedResults(results_path, table, contents.environments, command)


def with_declared_complexity(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of registered layers that carry no complexity (files written before records stored it) get
    the class the layer declares now; other rows are left as they are."""
    missing = df["complexity_time"].isna() & df["complexity_memory"].isna()
    if not missing.any():
        return df
    import models

    filled = df.copy()
    for name in set(filled.loc[missing, "model"]) & set(models.available()):
        declared = models.describe(name).complexity
        rows = missing & (filled["model"] == name)
        filled.loc[rows, "complexity_time"] = declared.get("time")
        filled.loc[rows, "complexity_memory"] = declared.get("memory")
    return filled

