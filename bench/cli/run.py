"""`run_bench.py run`: measure a sweep, store every result as it comes, print the summary, write the report."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.common import DEFAULT_REPORTS, EXIT_FAILURE, EXIT_OK, UsageError, load_results_file
from bench.cli.models_arg import parse_variant, split_models
from bench.config import ModelSpec, Overrides, Sweep, SweepError, custom_sweep, load_sweep, sweep_from_dict
from bench.config.executor_settings import (
    EXECUTORS,
    PLACEMENTS,
    SLURM_CLUSTERS,
    ExecutorSettings,
    ExecutorSettingsError,
)

if TYPE_CHECKING:
    from bench.run.executors import Executor

EXAMPLES = """examples:
  python run_bench.py run quick                      # the default sweep (same as no arguments)
  python run_bench.py run paper-fig2                 # the paper's Figure 2 set-up (GPU-sized)
  python run_bench.py run --models fastformer,softmax,linear[chunk_size=128] --seq-len 512,1024,2048
  python run_bench.py run my_sweep.toml --device cpu --mode train
  python run_bench.py run --resume reports/run-20261128-101500-ab12   # finish a killed run
  python run_bench.py run paper-fig2 --devices all   # one worker per GPU of this machine
  python run_bench.py run paper-fig2 --executor ray --ray-address auto              # a Ray cluster
  python run_bench.py run paper-fig2 --executor slurm --slurm-partition gpu         # Slurm job arrays
"""
# Flags that choose where the sweep runs, by the name of their ExecutorSettings field.
EXECUTOR_FLAGS = ("devices", "placement", "per_device", "retries", "ray_address", "slurm_cluster", "slurm_partition",
                  "slurm_time_min", "slurm_gpus_per_task", "slurm_cpus_per_task", "slurm_array_parallelism",
                  "slurm_exclusive", "slurm_folder")
# Flags that change the sweep, by the name of their Overrides field.
OVERRIDE_FLAGS = ("models", "seq_len", "batch", "d_model", "n_heads", "tokens", "kind", "device", "dtype", "mode",
                  "causal", "compile", "tf32", "scope", "warmup", "min_repeats", "max_repeats", "budget_s", "timeout_s",
                  "max_memory", "threads", "passes", "seed", "energy", "max_call_s", "budget_memory")


def _csv_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _csv(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _csv_switches(text: str) -> list[bool]:
    values = {"off": False, "false": False, "on": True, "true": True}
    chosen = _csv(text.lower())
    if not chosen or any(v not in values for v in chosen):
        raise argparse.ArgumentTypeError(f"expected off, on or off,on, got {text!r}")
    return [values[v] for v in chosen]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand and its options."""
    run = sub.add_parser("run", help="measure a sweep and write results and a report",
                         description="Measure every configuration of a sweep, each in a worker process, "
                                     "append results to RESULTS.jsonl as they finish, then write report.md "
                                     "with plots.", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("sweep", nargs="?", help="a preset name (quick, paper-fig2, lra) or a sweep TOML file; "
                                              "flags below override its fields")
    grp = run.add_argument_group("what to measure (override the sweep)")
    grp.add_argument("--models", help="comma-separated models with options, e.g. "
                                      "'fastformer,fastformer[scorer=official],softmax' (list-models shows "
                                      "them); your own layer as package.module:ClassName, importable from the "
                                      "current directory or PYTHONPATH (a project's own models.x or bench.x "
                                      "works too), or as path/to/file.py:ClassName")
    grp.add_argument("--seq-len", type=_csv_ints, help="sequence lengths, e.g. 256,512,1024")
    grp.add_argument("--batch", type=_csv_ints, help="batch sizes, e.g. 1,2,4")
    grp.add_argument("--d-model", type=_csv_ints, help="model widths, e.g. 128,256")
    grp.add_argument("--heads", dest="n_heads", type=_csv_ints, help="numbers of heads, e.g. 4")
    grp.add_argument("--tokens", type=int, help="couple batch = TOKENS / seq_len (the paper's Figure 2)")
    grp.add_argument("--kind", choices=["scan", "grid"], help="scan: one axis at a time around the base "
                                                              "point (default); grid: full product")
    grp.add_argument("--device", type=_csv, help="auto (CUDA when present, else CPU), cpu, cuda, or cpu,cuda")
    grp.add_argument("--dtype", type=_csv, help="float32, float64, bfloat16, float16 (comma-separated)")
    grp.add_argument("--mode", type=_csv, help="forward (inference) and/or train (forward + backward)")
    grp.add_argument("--causal", action=argparse.BooleanOptionalAction, default=None,
                     help="measure the causal form (--no-causal for the bidirectional one)")
    grp.add_argument("--compile", type=_csv, help="eager (as written), inductor (torch.compile, cold compile "
                                                  "time recorded apart), inductor-cudagraphs (CUDA only, mode "
                                                  "reduce-overhead); comma-separated, e.g. eager,inductor")
    grp.add_argument("--tf32", type=_csv_switches, help="off, on or off,on: TensorFloat-32 matmuls for float32 "
                                                        "on CUDA (ignored elsewhere; default off)")
    grp.add_argument("--scope", choices=["attention", "block"], help="attention layer alone, or a whole "
                                                                      "pre-LN layer with feed-forward")
    tim = run.add_argument_group("how to measure")
    tim.add_argument("--warmup", type=int, help="untimed calls before timing")
    tim.add_argument("--min-repeats", type=int, help="timed samples at least")
    tim.add_argument("--max-repeats", type=int, help="timed samples at most, even if the time budget is not spent "
                                                     "(default 1000)")
    tim.add_argument("--budget-s", type=float, help="seconds one measurement may take, cold call and warm-up "
                                                    "included, once --min-repeats samples are taken")
    tim.add_argument("--timeout-s", type=float, help="a configuration running longer is recorded as timeout")
    tim.add_argument("--max-memory", help="CPU memory cap per worker, e.g. 4GiB (larger -> oom)")
    tim.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    tim.add_argument("--passes", type=int, help="replicated passes over the sweep, each visiting every "
                                                "configuration in a fresh random order; intervals and "
                                                "verdicts use the spread between passes (presets set their "
                                                "own, e.g. quick 3)")
    tim.add_argument("--seed", type=int, help="seed of the pass orders, weights and inputs (default 0)")
    tim.add_argument("--energy", action=argparse.BooleanOptionalAction, default=None,
                     help="an energy pass per configuration: NVML on CUDA, RAPL on the CPU where readable "
                          "(--no-energy skips it; default on)")
    tim.add_argument("--max-call-s", type=float, help="skip configurations predicted slower than this per call")
    tim.add_argument("--budget-memory", help="skip configurations predicted to need more memory, e.g. 6GiB")
    out = run.add_argument_group("output")
    out.add_argument("--out", help="folder for results.jsonl and the report (default reports/<run-id>)")
    out.add_argument("--resume", metavar="RUN", help="continue a run killed part-way: its folder or "
                                                     "results.jsonl; its recorded sweep is reused and only "
                                                     "missing configurations run (give no sweep or flags)")
    out.add_argument("--fresh-workers", action="store_true", help="a new worker process for every "
                                                                  "configuration (slower start, no reuse)")
    out.add_argument("--no-report", action="store_true", help="write results only")
    out.add_argument("--dry-run", action="store_true", help="list the configurations and stop")
    _register_executor_flags(run)
    run.set_defaults(func=run_command)


def _register_executor_flags(run: argparse.ArgumentParser) -> None:
    """Where to run: these override the sweep's [executor] table and may be given with --resume."""
    ex = run.add_argument_group("where to run (override the sweep's [executor] table; README: Running on many "
                                "GPUs or a cluster)")
    ex.add_argument("--executor", dest="executor_name", choices=EXECUTORS,
                    help="local (default: worker processes on this machine), ray (a Ray cluster, needs "
                         ".[ray]) or slurm (submitit job arrays, needs .[slurm])")
    ex.add_argument("--devices", help="local: cuda:0,cuda:1 for one isolated worker per GPU, or all for every "
                                      "visible GPU (default: one worker at a time)")
    ex.add_argument("--placement", choices=PLACEMENTS,
                    help="exclusive (default: one configuration per device at a time, for headline numbers) "
                         "or packed (several per device: faster exploration, measured under interference)")
    ex.add_argument("--per-device", type=int, help="packed: configurations sharing one device (default 2)")
    ex.add_argument("--retries", type=int, help="ray, slurm: times a crashed task is run again (default 2)")
    ex.add_argument("--ray-address", help="ray: address of an existing cluster, e.g. auto or ray://head:10001 "
                                          "(default: start a local Ray instance)")
    ex.add_argument("--slurm-cluster", choices=SLURM_CLUSTERS,
                    help="slurm: submitit's slurm (sbatch, default), local (subprocesses here) or debug "
                         "(in this process, for debugging)")
    ex.add_argument("--slurm-partition", help="slurm: partition to submit to")
    ex.add_argument("--slurm-time-min", type=int, help="slurm: time limit of each array task, minutes (default 60)")
    ex.add_argument("--slurm-gpus-per-task", type=int, help="slurm: GPUs per task (default 1 on CUDA, else 0)")
    ex.add_argument("--slurm-cpus-per-task", type=int, help="slurm: CPUs per task")
    ex.add_argument("--slurm-array-parallelism", type=int, help="slurm: array tasks running at once (default 16)")
    ex.add_argument("--slurm-exclusive", action=argparse.BooleanOptionalAction, default=None,
                    help="slurm: whole nodes per task (default: on under placement exclusive)")
    ex.add_argument("--slurm-folder", help="slurm: shared folder for logs and result shards (default: the "
                                           "run's folder/slurm)")


def _executor_settings(args: argparse.Namespace, sweep: Sweep) -> ExecutorSettings:
    """The sweep's [executor] table with the executor flags laid over it."""
    flags = {name: getattr(args, name) for name in EXECUTOR_FLAGS}
    try:
        return sweep.executor.with_flags(name=args.executor_name, **flags)
    except ExecutorSettingsError as exc:
        raise UsageError(str(exc)) from exc


def _overrides(args: argparse.Namespace) -> Overrides:
    """The flags the user gave, as typed sweep overrides (flags left out are None and change nothing)."""
    values = {name: getattr(args, name) for name in OVERRIDE_FLAGS if name != "models"}
    models = [parse_variant(m) for m in split_models(args.models)] if args.models else []
    specs = [ModelSpec(m["name"], m["options"]) for m in models]
    return Overrides(models=specs, **{name: value for name, value in values.items() if value is not None})


def _results_path(target: str) -> Path:
    path = Path(target)
    return path / "results.jsonl" if path.is_dir() else path


def _requested_sweep(args: argparse.Namespace, overrides: Overrides) -> Sweep:
    """The sweep file or preset (or the custom base), with every flag the user gave laid over it."""
    if args.sweep:
        return load_sweep(args.sweep, overrides)
    if overrides.models:
        return custom_sweep(overrides)
    raise UsageError("no models to run: give a sweep (e.g. quick) or --models fastformer,softmax")


def _resumed_sweep(args: argparse.Namespace, overrides: Overrides) -> Sweep:
    """The sweep a run was started with, as its results file records it."""
    from bench.results.store import ResultStore, StorageError

    given = [*overrides.given(), *(["sweep"] if args.sweep else [])]
    if given:
        raise UsageError(f"--resume continues the recorded sweep; drop {', '.join(given)} (a different sweep "
                         f"would add other configurations to the same results file)")
    results = _results_path(args.resume)
    if not results.is_file():
        raise UsageError(f"--resume {args.resume}: no results file there; give the run's folder or "
                         f"its results.jsonl")
    try:
        info = ResultStore(results).run_info()
    except StorageError as exc:
        raise UsageError(str(exc)) from exc
    if info is None or not isinstance(info.sweep, dict):
        raise UsageError(f"--resume {args.resume}: {results} records no sweep to continue; start a new run "
                         f"instead")
    return sweep_from_dict(info.sweep)


def run_command(args: argparse.Namespace) -> int:
    from bench.run.session import make_run_id

    overrides = _overrides(args)
    try:
        sweep = _resumed_sweep(args, overrides) if args.resume else _requested_sweep(args, overrides)
    except SweepError as exc:
        raise UsageError(str(exc)) from exc
    sweep = replace(sweep, executor=_executor_settings(args, sweep))
    run_id = make_run_id()
    results_path = _output_path(args, run_id)
    executor = None if args.dry_run else _start_executor(args, sweep, results_path)
    try:
        return _run_sweep(args, sweep, executor, run_id, results_path)
    finally:
        if executor is not None:
            executor.kill()


def _on_cuda(sweep: Sweep) -> bool:
    """Whether the sweep measures on CUDA. Another executor's nodes may have GPUs this machine (a login
    node) lacks, so there `device cuda` is taken as asked, and only `auto` looks at this machine."""
    if "cuda" in sweep.devices:
        return True
    if "auto" not in sweep.devices:
        return False
    import torch

    return torch.cuda.is_available()


def _start_executor(args: argparse.Namespace, sweep: Sweep, results_path: Path) -> Executor:
    """The sweep's executor, with its first workers started now so that their imports overlap this
    process's own (torch, model validation); a missing extra or a bad device is a usage error."""
    from bench.run.executors import ExecutorUnavailable, RunContext, executor_from_settings
    from bench.run.placement import PlacementError

    context = RunContext(python=sys.executable, fresh_worker_per_config=args.fresh_workers,
                         run_dir=results_path.parent,
                         on_cuda=sweep.executor.name != "local" and _on_cuda(sweep))
    try:
        executor = executor_from_settings(sweep.executor, context)
    except (ExecutorUnavailable, PlacementError) as exc:
        raise UsageError(str(exc)) from exc
    on_cpu = any(device in ("auto", "cpu") for device in sweep.devices)
    executor.prestart(sweep.timing.max_memory_bytes if on_cpu else None)
    return executor


def _output_path(args: argparse.Namespace, run_id: str) -> Path:
    """The results file of a new or resumed run."""
    if args.resume:
        return _results_path(args.resume)
    outdir = Path(args.out) if args.out else DEFAULT_REPORTS / run_id
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"--out {outdir} is a file; give a folder (results.jsonl and report.md go inside it)")
    results = outdir / "results.jsonl"
    if results.exists():
        raise UsageError(f"{results} already exists; use --resume {outdir} to continue it or --out elsewhere")
    return results


def _run_sweep(args: argparse.Namespace, sweep: Sweep, executor: Executor | None, run_id: str,
               results_path: Path) -> int:
    import torch

    from bench.results.store import ResultStore, RunInfo, StorageError
    from bench.run.budget import BudgetPredictor
    from bench.run.executors import ExecutorUnavailable
    from bench.run.placement import PlacementError
    from bench.run.progress import Progress
    from bench.run.session import RunnerError, run_configs

    try:
        remote = sweep.executor.name != "local"  # its nodes have the GPUs, not necessarily this machine
        configs = sweep.expand(cuda_available=torch.cuda.is_available() or (remote and "cuda" in sweep.devices))
    except SweepError as exc:
        raise UsageError(str(exc)) from exc
    if "auto" in sweep.devices:
        chosen = "cuda (a CUDA device is present)" if torch.cuda.is_available() else "cpu (no CUDA device found)"
        print(f"device auto -> {chosen}")
    if args.dry_run:
        for c in configs:
            print(f"{c.variant:40s} device={c.device} dtype={c.dtype} mode={c.mode} causal={c.causal} "
                  f"N={c.seq_len} B={c.batch} d={c.d_model} h={c.n_heads}")
        passes = f", each in {sweep.timing.passes} passes" if sweep.timing.passes > 1 else ""
        print(f"{len(configs)} configurations{passes} (dry run: nothing measured, nothing written)")
        return EXIT_OK
    command = "python run_bench.py " + " ".join(shlex.quote(a) for a in args.argv)
    passes = sweep.timing.passes
    times = f" x {passes} passes" if passes > 1 else ""
    try:
        executor.check(configs)
    except (PlacementError, ExecutorUnavailable) as exc:
        raise UsageError(str(exc)) from exc
    print(f"sweep {sweep.name}: {len(configs)} configurations{times} -> {results_path}")
    print(f"executor {executor.describe()}")
    progress = Progress(len(configs) * passes)
    try:
        summary = run_configs(configs, ResultStore(results_path), run_id=run_id, resume=bool(args.resume),
                              passes=passes, seed=sweep.timing.seed,
                              run_info=RunInfo(run_id, command, sweep.to_dict()), on_result=progress.update,
                              budget=BudgetPredictor(sweep.budget.max_call_s, sweep.budget.max_memory_bytes),
                              executor=executor)
    except StorageError as exc:
        raise UsageError(str(exc)) from exc
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        progress.close()
    _summarise(results_path, write_report=not args.no_report)
    return EXIT_FAILURE if summary.counts.get("error") else EXIT_OK


def _summarise(results_path: Path, *, write_report: bool) -> None:
    """Print the summary table and write the report, from one read of the results, one combination of
    the passes and one scaling fit."""
    from bench.analysis.replicates import config_table
    from bench.analysis.scaling import scaling_table
    from bench.cli.report import render_report_files
    from bench.display.summary import render_summary

    loaded = load_results_file(results_path)
    configs = config_table(loaded.table)
    scaling = scaling_table(configs, axis="seq_len", metric="median_s")
    print(render_summary(configs, scaling))
    if write_report:
        print(f"report: {render_report_files(loaded, results_path.parent, time_scaling=scaling, configs=configs)}")
    print(f"results: {results_path}")
