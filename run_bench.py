#!/usr/bin/env python3
"""attnbench command line: sweep attention layers, report how they scale, gate speed regressions.

Run without arguments to measure the default `quick` sweep and write a report. Exit codes: 0 ok,
1 a measured failure (a configuration crashed, or the gate found a regression), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.runner import WorkerPool
    from bench.sweep import Sweep

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
REPO = Path(__file__).resolve().parent
DEFAULT_REPORTS = Path("reports")
RUN_INFO = "run_info.json"


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


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


def _option_value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_variant(text: str) -> dict:
    """'fastformer[scorer=official,share_qv=false]' -> {"name": "fastformer", "options": {...}}."""
    name, bracket, rest = text.partition("[")
    options: dict = {}
    if bracket:
        if not rest.endswith("]"):
            raise UsageError(f"model {text!r}: options must be closed with ], e.g. fastformer[scorer=official]")
        for item in _csv(rest[:-1]):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"model {text!r}: option {item!r} must be name=value")
            options[key.strip()] = _option_value(value.strip())
    return {"name": name.strip(), "options": options}


def _split_models(text: str) -> list[str]:
    """Split on commas outside brackets: 'a[x=1,y=2],b' -> ['a[x=1,y=2]', 'b']."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


# ---------------------------------------------------------------------------------------------- run

def _sweep_dict(args: argparse.Namespace) -> dict:
    """The sweep file or preset as a dict, with every flag the user gave laid over it."""
    from bench.sweep import PRESET_DIR, list_presets, tomllib

    data: dict = {}
    if args.sweep:
        path = PRESET_DIR / f"{args.sweep}.toml" if args.sweep in list_presets() else Path(args.sweep)
        if not path.is_file():
            raise UsageError(f"sweep {args.sweep!r} is neither a preset ({', '.join(list_presets())}) "
                             f"nor an existing TOML file")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"sweep file {path} is not valid TOML: {exc}") from exc
        data.setdefault("name", path.stem)
    else:
        data = {"name": "custom", "base": {"batch": 1, "d_model": 256, "n_heads": 4, "seq_len": 1024}}
    base = data.setdefault("base", {})
    axes = data.setdefault("axes", {})
    for axis, values in (("seq_len", args.seq_len), ("batch", args.batch), ("d_model", args.d_model),
                         ("n_heads", args.heads)):
        if values:
            if len(values) == 1:
                base[axis] = values[0]
                axes.pop(axis, None)
            else:
                axes[axis] = values
                base.setdefault(axis, values[0])
    if args.models:
        data["models"] = [parse_variant(m) for m in _split_models(args.models)]
    for key, value in (("device", args.device), ("dtype", args.dtype), ("mode", args.mode)):
        if value:
            data[key] = value
    if args.causal is not None:
        data["causal"] = [args.causal]
    for key, value in (("kind", args.kind), ("scope", args.scope), ("tokens", args.tokens)):
        if value is not None:
            data[key] = value
    timing = data.setdefault("timing", {})
    for key in ("warmup", "min_repeats", "max_repeats", "budget_s", "timeout_s", "max_memory", "threads"):
        if getattr(args, key) is not None:
            timing[key] = getattr(args, key)
    budget = data.setdefault("budget", {})
    if args.max_call_s is not None:
        budget["max_call_s"] = args.max_call_s
    if args.budget_memory is not None:
        budget["max_memory"] = args.budget_memory
    if not data.get("models"):
        raise UsageError("no models to run: give a sweep (e.g. quick) or --models fastformer,softmax")
    return data


SWEEP_FLAGS = ("sweep", "models", "seq_len", "batch", "d_model", "heads", "tokens", "kind", "device", "dtype", "mode",
               "causal", "scope", "warmup", "min_repeats", "max_repeats", "budget_s", "timeout_s", "max_memory",
               "threads", "max_call_s", "budget_memory")


def _resumed_sweep_dict(args: argparse.Namespace) -> dict:
    """The sweep a run was started with, from the run_info.json beside its results."""
    given = [name for name in SWEEP_FLAGS if getattr(args, name) is not None]
    if given:
        raise UsageError(f"--resume continues the recorded sweep; drop {', '.join(given)} (a different sweep "
                         f"would add other configurations to the same results file)")
    target = Path(args.resume)
    info = (target if target.is_dir() else target.parent) / RUN_INFO
    try:
        return dict(json.loads(info.read_text())["sweep_spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--resume {args.resume}: cannot read the recorded sweep from {info} ({exc}); "
                         f"start a new run instead") from exc


def _output_paths(args: argparse.Namespace, run_id: str) -> tuple[Path, Path]:
    """(results file, report folder) for a new or resumed run."""
    if args.resume:
        target = Path(args.resume)
        results = target / "results.jsonl" if target.is_dir() else target
        if not results.is_file():
            raise UsageError(f"--resume {args.resume}: no results file there; give the run's folder or "
                             f"its results.jsonl")
        return results, results.parent
    outdir = Path(args.out) if args.out else DEFAULT_REPORTS / run_id
    results = outdir / "results.jsonl"
    if results.exists():
        raise UsageError(f"{results} already exists; use --resume {outdir} to continue it or --out elsewhere")
    return results, outdir


def cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import WorkerPool
    from bench.sweep import SweepError, sweep_from_dict

    spec = _resumed_sweep_dict(args) if args.resume else _sweep_dict(args)
    try:
        sweep = sweep_from_dict(json.loads(json.dumps(spec)))
    except SweepError as exc:
        raise UsageError(str(exc)) from exc
    pool = None
    if not args.dry_run:
        # Start the first worker now: its imports overlap this process's own (torch, model validation).
        pool = WorkerPool(sys.executable, fresh_worker_per_config=args.fresh_workers)
        on_cpu = any(device in ("auto", "cpu") for device in sweep.devices)
        pool.prestart(sweep.timing.max_memory_bytes if on_cpu else None)
    try:
        return _run_sweep(args, sweep, spec, pool)
    finally:
        if pool is not None:
            pool.kill()


def _run_sweep(args: argparse.Namespace, sweep: Sweep, spec: dict, pool: WorkerPool | None) -> int:
    import torch

    from bench.budget import BudgetPredictor
    from bench.progress import Progress
    from bench.runner import RunnerError, make_run_id, run_configs
    from bench.storage import ResultStore, StorageError
    from bench.sweep import SweepError

    try:
        configs = sweep.expand(cuda_available=torch.cuda.is_available())
    except SweepError as exc:
        raise UsageError(str(exc)) from exc
    if "auto" in sweep.devices:
        chosen = "cuda (a CUDA device is present)" if torch.cuda.is_available() else "cpu (no CUDA device found)"
        print(f"device auto -> {chosen}")
    run_id = make_run_id()
    results_path, outdir = _output_paths(args, run_id)
    if args.dry_run:
        for config in configs:
            print(f"{config.variant:40s} device={config.device} dtype={config.dtype} mode={config.mode} "
                  f"causal={config.causal} N={config.seq_len} B={config.batch} d={config.d_model} "
                  f"h={config.n_heads}")
        print(f"{len(configs)} configurations (dry run: nothing measured, nothing written)")
        return EXIT_OK
    outdir.mkdir(parents=True, exist_ok=True)
    command = "python run_bench.py " + " ".join(shlex.quote(a) for a in args.argv)
    if not args.resume:
        info = {"run_id": run_id, "sweep": sweep.name, "command": command, "sweep_spec": spec}
        (outdir / RUN_INFO).write_text(json.dumps(info, indent=2) + "\n")
    print(f"sweep {sweep.name}: {len(configs)} configurations -> {results_path}")
    store = ResultStore(results_path)
    predictor = BudgetPredictor(sweep.budget.max_call_s, sweep.budget.max_memory_bytes)
    progress = Progress(len(configs))
    try:
        summary = run_configs(configs, store, run_id=run_id, resume=bool(args.resume),
                              fresh_worker_per_config=args.fresh_workers, on_result=progress.update,
                              budget=predictor, pool=pool)
    except StorageError as exc:
        raise UsageError(str(exc)) from exc
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        progress.close()
    _print_summary(results_path)
    if not args.no_report:
        report = _write_report(results_path, outdir)
        print(f"report: {report}")
    print(f"results: {results_path}")
    return EXIT_FAILURE if summary.counts.get("error") else EXIT_OK


def _print_summary(results_path: Path) -> None:
    from bench.analysis import scaling_table
    from bench.storage import load_results
    from bench.summary import render_summary

    df = load_results(results_path)
    print(render_summary(df, scaling_table(df, axis="seq_len", metric="median_s")))


def _run_command(results_path: Path) -> str:
    """The command that produced a results file, from the run_info.json written beside it at the start."""
    info = results_path.parent / RUN_INFO
    try:
        return str(json.loads(info.read_text())["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"(the command that made {results_path} was not recorded)"


def _write_report(results_path: Path, outdir: Path) -> Path:
    from bench.report import write_report
    from bench.storage import load_environments, load_results

    command = _run_command(results_path)
    df = load_results(results_path)
    return write_report(df, load_environments(results_path), outdir,
                        run_id=str(df["run_id"].iloc[0]) if len(df) else "", command=command)


# ------------------------------------------------------------------------------------------- others

def cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_file():
        raise UsageError(f"results file {results} does not exist")
    outdir = Path(args.out) if args.out else results.parent
    report = _write_report(results, outdir)
    print(f"report: {report}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import CompareError, compare
    from bench.storage import load_results

    for path in (args.a, args.b):
        if not Path(path).is_file():
            raise UsageError(f"results file {path} does not exist")
    try:
        result = compare(load_results(args.a), load_results(args.b), force=args.force)
    except CompareError as exc:
        raise UsageError(str(exc)) from exc
    print(result.render())
    return EXIT_OK


def cmd_list_models(args: argparse.Namespace) -> int:
    import models

    for name in models.available():
        info = models.describe(name)
        causal = "" if info.supports_causal else " (no causal form)"
        print(f"{name}: {info.description}{causal}")
        for option, (default, help_text) in info.options.items():
            print(f"    {option} = {default!r}  {help_text}")
    print("Also: package.module:ClassName loads your own layer that follows the same contract.")
    return EXIT_OK


def cmd_selfcheck(args: argparse.Namespace) -> int:
    import torch

    from bench.selfcheck import render_checks, run_selfcheck

    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("selfcheck --device cuda: torch sees no CUDA device; use --device cpu")
    checks = run_selfcheck(args.device)
    print(render_checks(checks))
    return EXIT_OK if all(c.passed for c in checks) else EXIT_FAILURE


def cmd_gate(args: argparse.Namespace) -> int:
    from bench.gate import gate_main, update_baseline_main

    for path in args.results:
        if not Path(path).is_file():
            raise UsageError(f"results file {path} does not exist")
    if args.update_baseline:
        return update_baseline_main(args.results, args.baseline, args.policy)
    return gate_main(args.results, args.baseline, args.policy)


# -------------------------------------------------------------------------------------------- parser

RUN_EXAMPLES = """examples:
  python run_bench.py run quick                      # the default sweep (same as no arguments)
  python run_bench.py run paper-fig2                 # the paper's Figure 2 set-up (GPU-sized)
  python run_bench.py run --models fastformer,softmax,linear[chunk_size=128] --seq-len 512,1024,2048
  python run_bench.py run my_sweep.toml --device cpu --mode train
  python run_bench.py run --resume reports/run-20261128-101500-ab12   # finish a killed run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="measure a sweep and write results and a report",
                         description="Measure every configuration of a sweep, each in a worker process, "
                                     "append results to RESULTS.jsonl as they finish, then write report.md "
                                     "with plots.", epilog=RUN_EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("sweep", nargs="?", help="a preset name (quick, paper-fig2, lra) or a sweep TOML file; "
                                              "flags below override its fields")
    grp = run.add_argument_group("what to measure (override the sweep)")
    grp.add_argument("--models", help="comma-separated models with options, e.g. "
                                      "'fastformer,fastformer[scorer=official],softmax'")
    grp.add_argument("--seq-len", type=_csv_ints, help="sequence lengths, e.g. 256,512,1024")
    grp.add_argument("--batch", type=_csv_ints, help="batch sizes, e.g. 1,2,4")
    grp.add_argument("--d-model", type=_csv_ints, help="model widths, e.g. 128,256")
    grp.add_argument("--heads", type=_csv_ints, help="numbers of heads, e.g. 4")
    grp.add_argument("--tokens", type=int, help="couple batch = TOKENS / seq_len (the paper's Figure 2)")
    grp.add_argument("--kind", choices=["scan", "grid"], help="scan: one axis at a time around the base "
                                                              "point (default); grid: full product")
    grp.add_argument("--device", type=_csv, help="auto (CUDA when present, else CPU), cpu, cuda, or cpu,cuda")
    grp.add_argument("--dtype", type=_csv, help="float32, float64, bfloat16, float16 (comma-separated)")
    grp.add_argument("--mode", type=_csv, help="forward (inference) and/or train (forward + backward)")
    grp.add_argument("--causal", action=argparse.BooleanOptionalAction, default=None,
                     help="measure the causal form (--no-causal for the bidirectional one)")
    grp.add_argument("--scope", choices=["attention", "block"], help="attention layer alone, or a whole "
                                                                      "pre-LN layer with feed-forward")
    tim = run.add_argument_group("how to measure")
    tim.add_argument("--warmup", type=int, help="untimed calls before timing")
    tim.add_argument("--min-repeats", type=int, help="timed samples at least")
    tim.add_argument("--max-repeats", type=int, help="timed samples at most, even if the time budget is not spent "
                                                     "(default 1000)")
    tim.add_argument("--budget-s", type=float, help="keep timing until this many seconds have passed")
    tim.add_argument("--timeout-s", type=float, help="a configuration running longer is recorded as timeout")
    tim.add_argument("--max-memory", help="CPU memory cap per worker, e.g. 4GiB (larger -> oom)")
    tim.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
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
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="re-render a report from stored results",
                         description="Re-render report.md and plots from a results file.",
                         epilog="example:\n  python run_bench.py report reports/quick-cpu/results.jsonl",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("results", help="a results.jsonl file")
    rep.add_argument("--out", help="folder for the report (default: the results file's folder)")
    rep.set_defaults(func=cmd_report)

    cmp_ = sub.add_parser("compare", help="show two runs side by side",
                          description="Join the configurations two runs share and show medians, ratio "
                                      "B/A and whether the change is beyond noise (Mann-Whitney U). Runs on "
                                      "different hardware are refused unless --force.",
                          epilog="example:\n  python run_bench.py compare old/results.jsonl new/results.jsonl",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp_.add_argument("a", help="results.jsonl of run A (the reference)")
    cmp_.add_argument("b", help="results.jsonl of run B")
    cmp_.add_argument("--force", action="store_true", help="compare even across different hardware")
    cmp_.set_defaults(func=cmd_compare)

    lst = sub.add_parser("list-models", help="list every registered model with its options",
                         description="Every registered attention layer with a one-line description and "
                                     "its options (name = default).")
    lst.set_defaults(func=cmd_list_models)

    chk = sub.add_parser("selfcheck", help="validate the timer, memory tracker and FLOP counter here",
                         description="Check the measurement engine on this machine: timer vs "
                                     "torch.utils.benchmark, memory vs a known allocation, FLOP counter vs "
                                     "a matmul of known size, and on CUDA events vs a synchronised clock.",
                         epilog="example:\n  python run_bench.py selfcheck --device cuda",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device to check (default cpu)")
    chk.set_defaults(func=cmd_selfcheck)

    gate = sub.add_parser("gate", help="fail when a run regressed against a stored baseline",
                          description="Compare a run with a baseline: scaling exponents and crossovers, "
                                      "speed relative to a reference measured in the same run (with a "
                                      "significance test), and absolute time when the hardware matches. "
                                      "Exit 1 on regression.",
                          epilog="examples:\n"
                                 "  python run_bench.py gate --baseline ci/baseline.json run/results.jsonl\n"
                                 "  python run_bench.py gate --update-baseline --baseline ci/baseline.json "
                                 "run/results.jsonl",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.add_argument("results", nargs="+", help="results.jsonl file(s) of the run to check")
    gate.add_argument("--baseline", required=True, help="baseline JSON file")
    gate.add_argument("--policy", help="gate policy TOML (default: bench/gate_policy.toml)")
    gate.add_argument("--update-baseline", action="store_true", help="write the baseline from these results "
                                                                     "instead of checking")
    gate.set_defaults(func=cmd_gate)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    argv = argv if argv else ["run", "quick"]
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept; continue with run --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
