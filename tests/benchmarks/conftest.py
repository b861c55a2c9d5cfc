"""pytest-benchmark set-up for the model benchmarks: device, threads, malloc, models, cheap untimed default runs.

Plain `pytest` runs each benchmark body once, untimed (a smoke test that keeps CI fast). Timing starts
only when a benchmarking option asks for it (--benchmark-only, --benchmark-enable, --benchmark-save,
--benchmark-autosave, --benchmark-json, --benchmark-compare, --benchmark-compare-fail or
--benchmark-histogram); --benchmark-skip skips them as usual.

What the benchmarks run on, each fixed for the whole session so runs compare:
- device: ATTNBENCH_DEVICE, cpu (default) or cuda;
- torch CPU threads: ATTNBENCH_THREADS, 1 by default (the harness presets' setting; on a small shared
  machine one thread also leaves the other cores to whatever else runs); restored after the benchmarks;
- glibc malloc: when timing, the thresholds the harness's workers get (bench.run.process.STEADY_MALLOC),
  set with mallopt because MALLOC_* variables are only read at process start; a MALLOC_* variable the
  user set wins, as in the worker; nothing happens without glibc;
- models: every registered layer, plus any named in `--attnbench-models` or ATTNBENCH_MODELS
  (comma-separated, the syntax of `run_bench.py run --models`: `name`, `name[opt=value,...]`,
  `package.module:ClassName[...]`). The option exists only when this directory's conftest is loaded at
  start-up, i.e. when a path inside tests/benchmarks is on the command line; the variable works always.
Device, threads and malloc are written into saved runs' machine_info, so --benchmark-compare warns when
they differ. When timing, each benchmark gets MAX_TIME_S (2 s) of rounds unless --benchmark-max-time is
given, with the garbage collector off during its rounds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

import models
from bench.cli.common import UsageError
from bench.cli.models_arg import parse_variant, split_models
from bench.config.bench_config import variant_name
from bench.run.process import STEADY_MALLOC

DEVICE_VARIABLE = "ATTNBENCH_DEVICE"
THREADS_VARIABLE = "ATTNBENCH_THREADS"
MODELS_VARIABLE = "ATTNBENCH_MODELS"
MODELS_OPTION = "--attnbench-models"
DEFAULT_THREADS = 1
REQUESTING_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_save", "benchmark_autosave",
                      "benchmark_json", "benchmark_compare", "benchmark_compare_fail", "benchmark_histogram")
# mallopt parameter numbers (glibc malloc.h) for the environment variables STEADY_MALLOC sets.
MALLOPT_PARAMS = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}
# Seconds of timed rounds per benchmark (pytest-benchmark's default is PLUGIN_MAX_TIME_S): on a small shared
# machine a one-second median still moved by up to ~30 % from run to run; two seconds average out more of
# the machine's slow swings while a full --benchmark-only run stays near 75 s there (32 benchmarks).
MAX_TIME_S, PLUGIN_MAX_TIME_S = 2.0, 1.0
HERE = Path(__file__).resolve().parent
# the width and heads user layers are built at to check them before anything runs (the benchmarks' own)
CHECK_D_MODEL, CHECK_N_HEADS = 64, 4


@dataclass(frozen=True)
class ModelChoice:
    """One benchmarked layer: its test id (the variant label), registry name or import path, options."""

    label: str
    name: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """What this session benchmarks with, read once at configure time."""

    threads: int
    models: tuple[ModelChoice, ...]
    malloc: str


SETTINGS_KEY = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(MODELS_OPTION, dest="attnbench_models", default=None, metavar="SPECS",
                     help=f"extra layers to benchmark besides the registered ones, comma-separated as for "
                          f"`run_bench.py run --models` (overrides {MODELS_VARIABLE})")


def benchmarking_requested(config: pytest.Config) -> bool:
    """Whether the command line asked pytest-benchmark to measure (not just to run the bodies once)."""
    return any(config.getoption(name, default=None) for name in REQUESTING_OPTIONS)


def selected_device() -> str:
    """The device named by ATTNBENCH_DEVICE (default cpu); a bad value is a usage error naming the fix."""
    device = os.environ.get(DEVICE_VARIABLE, "cpu").strip().lower() or "cpu"
    if device not in ("cpu", "cuda"):
        raise pytest.UsageError(f"{DEVICE_VARIABLE}={device!r}: use cpu or cuda")
    return device


def selected_threads(environ: Mapping[str, str] = os.environ) -> int:
    """torch CPU threads for the benchmarks: ATTNBENCH_THREADS, DEFAULT_THREADS (1) when unset or empty."""
    text = environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise pytest.UsageError(f"{THREADS_VARIABLE}={text!r}: give a whole number of threads >= 1, e.g. "
                                f"{THREADS_VARIABLE}=1")
    return threads


def parse_models(text: str | None, source: str = MODELS_VARIABLE) -> list[ModelChoice]:
    """The layers named in `text` (the `--models` syntax), each built once to check it; UsageError if bad.

    `source` names where the text came from (the variable or the option), for the error message.
    """
    choices = []
    for spec in split_models(text or ""):
        try:
            parsed = parse_variant(spec)
            if not parsed["name"]:
                raise UsageError(f"model {spec!r} has no name before its [options]")
            models.build(parsed["name"], CHECK_D_MODEL, CHECK_N_HEADS, **parsed["options"])
        except (UsageError, models.ModelError, TypeError, ValueError) as exc:
            message = " ".join(str(exc).split())
            raise pytest.UsageError(f"{source}={text!r}: {message}; list models as for `run_bench.py run --models`"
                                    f": comma-separated names or package.module:ClassName, each with optional "
                                    f"[name=value,...]") from None
        choices.append(ModelChoice(variant_name(parsed["name"], parsed["options"]), parsed["name"],
                                   parsed["options"]))
    return choices


def selected_models(option: str | None, environ: Mapping[str, str] = os.environ) -> list[ModelChoice]:
    """Every registered model, then the extra ones from the option (if given) or ATTNBENCH_MODELS."""
    if option is not None:
        extra = parse_models(option, MODELS_OPTION)
    else:
        extra = parse_models(environ.get(MODELS_VARIABLE), MODELS_VARIABLE)
    chosen = {name: ModelChoice(name, name) for name in models.available()}
    for choice in extra:
        chosen.setdefault(choice.label, choice)
    return list(chosen.values())


def find_mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None where the C library is not glibc (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it, and only glibc reads these thresholds
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def apply_steady_malloc(environ: Mapping[str, str] = os.environ,
                        mallopt: Callable[[int, int], int] | None = None) -> str:
    """Give this process the workers' malloc thresholds (STEADY_MALLOC) unless the user set MALLOC_* already.

    Returns what holds now: `steady` (set here), `user` (the user's MALLOC_* settings, left alone),
    `steady+user` (some of each), or `default` (no glibc, or glibc refused).
    """
    mine = [key for key in STEADY_MALLOC if key not in environ]
    theirs = len(mine) < len(STEADY_MALLOC)
    if not mine:
        return "user"
    mallopt = mallopt or find_mallopt()
    applied = mallopt is not None and all(mallopt(MALLOPT_PARAMS[key], int(STEADY_MALLOC[key])) == 1
                                          for key in mine)
    if not applied:
        return "user" if theirs else "default"
    return "steady+user" if theirs else "steady"


def pytest_configure(config: pytest.Config) -> None:
    """Read threads and models once (bad values are usage errors); fix malloc when timing is requested."""
    threads = selected_threads()
    chosen = selected_models(config.getoption("attnbench_models", default=None))
    malloc = apply_steady_malloc() if benchmarking_requested(config) else "default"
    config.stash[SETTINGS_KEY] = Settings(threads, tuple(chosen), malloc)


def timing_settings(config: pytest.Config) -> dict:
    """The `benchmark` marker these benchmarks get: gc off while timing, and MAX_TIME_S of rounds each
    unless --benchmark-max-time was given (a marker outranks the command line in pytest-benchmark)."""
    settings: dict = {"disable_gc": True}
    if float(config.getoption("benchmark_max_time", default=PLUGIN_MAX_TIME_S)) == PLUGIN_MAX_TIME_S:
        settings["max_time"] = MAX_TIME_S
    return settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give this directory's benchmarks their timing settings (timing_settings)."""
    marker = pytest.mark.benchmark(**timing_settings(config))
    for item in items:
        if item.path.is_relative_to(HERE) and "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(marker)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `model_choice` over the session's models, with their labels as test ids."""
    if "model_choice" in metafunc.fixturenames:
        chosen = metafunc.config.stash[SETTINGS_KEY].models
        metafunc.parametrize("model_choice", chosen, ids=[c.label for c in chosen])


@pytest.fixture(scope="package", autouse=True)
def pinned_threads(request: pytest.FixtureRequest):
    """torch's CPU threads set to the session's count for these benchmarks, the previous count restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.config.stash[SETTINGS_KEY].threads)
    yield torch.get_num_threads()
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def device() -> str:
    """The benchmark device; CUDA benchmarks skip cleanly on a machine without a GPU."""
    device = selected_device()
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"{DEVICE_VARIABLE}=cuda but torch sees no CUDA device")
    return device


@pytest.fixture
def benchmark(benchmark, request):
    """pytest-benchmark's fixture, switched to a single untimed call unless benchmarking was requested."""
    if not benchmarking_requested(request.config):
        benchmark.disabled = True
    return benchmark


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record device, threads, malloc, torch build and GPU in saved runs, so --benchmark-compare warns across them."""
    device = os.environ.get(DEVICE_VARIABLE, "cpu")
    machine_info["attnbench_device"] = device
    machine_info["torch"] = torch.__version__
    settings = config.stash.get(SETTINGS_KEY, None)
    machine_info["torch_threads"] = settings.threads if settings else torch.get_num_threads()
    if settings:
        machine_info["attnbench_malloc"] = settings.malloc
    if device == "cuda" and torch.cuda.is_available():
        machine_info["gpu"] = torch.cuda.get_device_name()
