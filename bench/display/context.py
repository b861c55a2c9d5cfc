"""What the report's sections read: the run's table and the analysis of it, computed once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from bench.analysis.capacity import largest_fit
from bench.analysis.claims import ClaimCheck, check_claims
from bench.analysis.crossovers import crossovers
from bench.analysis.replicates import config_table
from bench.analysis.scaling import scaling_table
from bench.analysis.throughput import achieved_flops
from bench.analysis.unmeasured import fill_hardware

# The scaling tables of a report: name -> (axis, metric).
SCALING = {"time_seq_len": ("seq_len", "median_s"), "memory_seq_len": ("seq_len", "peak_bytes"),
           "time_batch": ("batch", "median_s"), "time_d_model": ("d_model", "median_s")}
# The references crossovers are reported against.
REFERENCES = ("sdpa", "softmax")


@dataclass(frozen=True, eq=False)
class ReportContext:
    """A run's results and everything the sections derive from them, so no section recomputes analysis.

    `df` has a row per configuration and pass, `configs` a row per configuration with its passes
    combined (bench.analysis.replicates), which every analysis reads; in both, a configuration that never
    ran has the hardware of its series (bench.analysis.unmeasured). `plots` are links relative to the
    report's folder (PNG files; `vector` those of the PDF drawn beside each, where there is one);
    `scaling` is keyed by the names of SCALING and `crossovers` by reference (REFERENCES).
    """

    df: pd.DataFrame
    configs: pd.DataFrame
    environments: dict
    run_id: str
    command: str
    plots: tuple[str, ...]
    vector: frozenset[str]
    scaling: dict[str, pd.DataFrame]
    crossovers: dict[str, pd.DataFrame]
    claims: tuple[ClaimCheck, ...]
    largest: pd.DataFrame
    flops: pd.DataFrame

    @classmethod
    def build(cls, df: pd.DataFrame, environments: dict, *, run_id: str, command: str, plots: Sequence[Path],
              outdir: str | Path, time_scaling: pd.DataFrame | None = None,
              configs: pd.DataFrame | None = None) -> ReportContext:
        """Analyse `df` once; `time_scaling` and `configs`, when given, are the already computed
        time-vs-seq_len table and `config_table(df)`."""
        links = tuple(_link(p, outdir) for p in plots)
        vector = frozenset(_link(p, outdir) for p in plots if Path(p).with_suffix(".pdf").is_file())
        df = fill_hardware(df)
        configs = fill_hardware(config_table(df) if configs is None else configs)
        scaling = {}
        for name, (axis, metric) in SCALING.items():
            reuse = name == "time_seq_len" and time_scaling is not None
            scaling[name] = time_scaling if reuse else scaling_table(configs, axis, metric)
        return cls(df=df, configs=configs, environments=environments, run_id=run_id, command=command,
                   plots=links, vector=vector, scaling=scaling,
                   crossovers={ref: crossovers(configs, ref) for ref in REFERENCES},
                   claims=tuple(check_claims(configs, scaling["time_seq_len"])), largest=largest_fit(configs),
                   flops=achieved_flops(configs))

    def embeds(self, *prefixes: str) -> list[str]:
        """Markdown images of the plots whose file names start with one of `prefixes`, each followed by a
        link to its PDF (for print) where one was drawn beside it."""
        return [f"![{Path(p).stem}]({p})" + (f" ([PDF]({PurePosixPath(p).with_suffix('.pdf')}))"
                                              if p in self.vector else "")
                for p in self.plots if Path(p).name.startswith(prefixes)]


def _link(path: str | Path, outdir: str | Path) -> str:
    """A plot's path relative to the report's folder, with forward slashes."""
    return os.path.relpath(Path(path), Path(outdir)).replace(os.sep, "/")
