"""Reading sweeps: presets by name and TOML files, the only place a sweep is parsed from text or data.

File format (see bench/config/presets/*.toml for complete examples)::

    name = "mine"
    kind = "scan"                     # or "grid"
    device = ["auto"]                 # auto = cuda when present, else cpu; or ["cpu", "cuda"]
    dtype = ["float32"]
    mode = ["forward"]                # forward, train
    causal = [false]
    compile = ["eager"]               # eager, inductor (torch.compile), inductor-cudagraphs (CUDA only)
    tf32 = [false]                    # [false, true]: also CUDA float32 with TensorFloat-32 matmuls
    scope = "attention"               # or "block" (pre-LN attention + feed-forward)
    tokens = 65536                    # optional: batch = tokens / seq_len along seq_len

    [base]                            # the point a scan varies around
    seq_len = 1024
    batch = 1
    d_model = 256
    n_heads = 4

    [axes]
    seq_len = [256, 512, 1024, 2048]

    [timing]                          # how each configuration is measured
    warmup = 2
    min_repeats = 5
    budget_s = 0.5
    timeout_s = 120
    max_memory = "8GiB"               # CPU memory cap enforced in the worker (optional)
    passes = 3                        # replicated passes, each in a fresh random order (default 1)
    seed = 0                          # seeds the pass orders, the weights and the inputs

    [budget]                          # skip configurations predicted to exceed these
    max_call_s = 2.0
    max_memory = "8GiB"

    [executor]                        # where it runs (bench.config.executor_settings; default local)
    name = "local"
    placement = "exclusive"

    [[models]]
    name = "fastformer"
    [[models]]
    name = "fastformer"
    options = { scorer = "official" }
    [[models]]
    name = "softmax"
    max_seq_len = 4096                # optional per-model cap

`sweep_from_dict` reads the same mapping (the run line of a results file stores `Sweep.to_dict()`).
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from bench.config.executor_settings import ExecutorSettings, ExecutorSettingsError
from bench.config.sweep import (
    CUSTOM_SWEEP,
    Budget,
    ModelSpec,
    Overrides,
    Sweep,
    SweepError,
    Timing,
    positive_int,
    size_field,
)
from bench.config.toml import TOMLDecodeError, loads

PRESET_DIR = Path(__file__).with_name("presets")
_TOP_LEVEL = {"name", "description", "kind", "device", "dtype", "mode", "causal", "compile", "tf32", "scope",
              "tokens", "base", "axes", "timing", "budget", "executor", "models"}


def load_sweep(name_or_path: str | Path, overrides: Overrides | None = None) -> Sweep:
    """A preset by name (e.g. `quick`) or a sweep TOML file, with `overrides` (the flags) laid over what
    it says, then validated; errors name the file and the problem."""
    if str(name_or_path) in list_presets():
        path = PRESET_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
    if not path.is_file():
        raise SweepError(f"sweep {str(name_or_path)!r} is neither a preset ({', '.join(list_presets())}) "
                         f"nor an existing TOML file")
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1]
        raise SweepError(f"sweep file {path} is not UTF-8 text (byte {exc.start} is {bad!r}); TOML files are "
                         f"UTF-8: save it as UTF-8") from exc
    except OSError as exc:
        raise SweepError(f"sweep file {path} cannot be read: {exc.strerror}") from exc
    except TOMLDecodeError as exc:
        raise SweepError(f"sweep file {path} is not valid TOML: {exc}") from exc
    if overrides is not None:
        data = overrides.onto(data)
    try:
        return sweep_from_dict(data, default_name=path.stem)
    except SweepError as exc:
        raise SweepError(f"{path}: {exc}") from exc


def list_presets() -> list[str]:
    """Names of the sweep presets shipped in bench/config/presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def sweep_from_dict(data: dict, *, default_name: str = "custom") -> Sweep:
    """Build a Sweep from the parsed TOML structure (see the module docstring)."""
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise SweepError(f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(_TOP_LEVEL))}")
    models = tuple(_model_spec(m, i) for i, m in enumerate(_as_list(data.get("models"), "models")))
    return Sweep(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", "")),
        kind=data.get("kind", "scan"),
        models=models,
        base=dict(_table(data, "base")),
        axes={k: tuple(_as_list(v, f"axes.{k}")) for k, v in _table(data, "axes").items()},
        devices=tuple(_as_list(data.get("device", ["auto"]), "device")),
        dtypes=tuple(_as_list(data.get("dtype", ["float32"]), "dtype")),
        modes=tuple(_as_list(data.get("mode", ["forward"]), "mode")),
        causal=tuple(_as_list(data.get("causal", [False]), "causal")),
        compile=tuple(_as_list(data.get("compile", ["eager"]), "compile")),
        tf32=tuple(_as_list(data.get("tf32", [False]), "tf32")),
        scope=data.get("scope", "attention"),
        tokens=data.get("tokens"),
        timing=_timing(_table(data, "timing")),
        budget=_budget(_table(data, "budget")),
        executor=_executor(_table(data, "executor")),
    )


def _executor(table: dict) -> ExecutorSettings:
    try:
        return ExecutorSettings.from_dict(table)
    except ExecutorSettingsError as exc:
        raise SweepError(str(exc)) from exc


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SweepError(f"[{key}] must be a table of name = value lines")
    return value


def _as_list(value: object, label: str) -> list:
    if value is None:
        raise SweepError(f"{label} is required")
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _model_spec(entry: object, index: int) -> ModelSpec:
    if isinstance(entry, str):
        return ModelSpec(entry)
    if not isinstance(entry, dict) or "name" not in entry:
        raise SweepError(f"models[{index}] needs a name, e.g. {{ name = \"fastformer\" }}")
    unknown = sorted(set(entry) - {"name", "options", "max_seq_len"})
    if unknown:
        raise SweepError(f"models[{index}] has unknown key(s) {', '.join(unknown)}; "
                         f"valid: name, options, max_seq_len")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise SweepError(f"models[{index}].options must be a table, e.g. {{ scorer = \"official\" }}")
    cap = entry.get("max_seq_len")
    if cap is not None:
        positive_int(f"models[{index}].max_seq_len", cap)
    return ModelSpec(str(entry["name"]), dict(options), cap)


def _timing(table: dict) -> Timing:
    known = {f.name for f in fields(Timing)} - {"max_memory_bytes"} | {"max_memory"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SweepError(f"[timing] has unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    values = {k: v for k, v in table.items() if k != "max_memory"}
    if "max_memory" in table:
        values["max_memory_bytes"] = size_field("timing.max_memory", table["max_memory"])
    return replace(Timing(), **values)


def _budget(table: dict) -> Budget:
    unknown = sorted(set(table) - {"max_call_s", "max_memory"})
    if unknown:
        raise SweepError(f"[budget] has unknown key(s) {', '.join(unknown)}; valid: max_call_s, max_memory")
    max_call = table.get("max_call_s")
    number = isinstance(max_call, (int, float)) and not isinstance(max_call, bool)
    if max_call is not None and not (number and max_call > 0):
        raise SweepError(f"budget.max_call_s must be a positive number of seconds, got {max_call!r}")
    memory = table.get("max_memory")
    return Budget(max_call_s=max_call, max_memory_bytes=size_field("budget.max_memory", memory) if memory else None)


def custom_sweep(overrides: Overrides) -> Sweep:
    """The sweep of flags alone: models and sizes from `overrides` over CUSTOM_SWEEP's base point."""
    return sweep_from_dict(overrides.onto(CUSTOM_SWEEP))
