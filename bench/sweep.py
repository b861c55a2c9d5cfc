"""Sweeps: which configurations to measure, read from a TOML file or built from flags.

A sweep names models (with options), the axes seq_len, batch, d_model and n_heads, and the
settings dtype, device, mode and causal. Kinds:
- `scan` (the default): vary one axis at a time around a base point, since full grids explode;
- `grid`: the full product of all axis values;
plus `tokens` coupling (batch = tokens / seq_len, as in the paper's Figure 2) on the seq_len axis.
The whole sweep is validated, every model built once, before anything runs.

File format (see bench/presets/*.toml for complete examples)::

    name = "mine"
    kind = "scan"                     # or "grid"
    device = ["auto"]                 # auto = cuda when present, else cpu; or ["cpu", "cuda"]
    dtype = ["float32"]
    mode = ["forward"]                # forward, train
    causal = [false]
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

    [budget]                          # skip configurations predicted to exceed these
    max_call_s = 2.0
    max_memory = "8GiB"

    [[models]]
    name = "fastformer"
    [[models]]
    name = "fastformer"
    options = { scorer = "official" }
    [[models]]
    name = "softmax"
    max_seq_len = 4096                # optional per-model cap
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bench.config import DTYPES, MODES, SCOPES, BenchConfig, ConfigError
from bench.units import parse_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

AXES = ("seq_len", "batch", "d_model", "n_heads")
KINDS = ("scan", "grid")
PRESET_DIR = Path(__file__).with_name("presets")
_TOP_LEVEL = {"name", "description", "kind", "device", "dtype", "mode", "causal", "scope", "tokens", "base",
              "axes", "timing", "budget", "models"}


class SweepError(ValueError):
    """A sweep definition is invalid; the message names the field, the problem and what would be valid."""


@dataclass(frozen=True)
class ModelSpec:
    """A model to sweep, with its options and an optional cap on sequence length."""

    name: str
    options: dict = field(default_factory=dict)
    max_seq_len: int | None = None


@dataclass(frozen=True)
class Timing:
    """The timing policy copied into every configuration of a sweep."""

    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 1000
    budget_s: float = 0.5
    timeout_s: float = 300.0
    max_memory_bytes: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Budget:
    """Per-configuration limits: a configuration predicted to exceed them is recorded as skipped."""

    max_call_s: float | None = None
    max_memory_bytes: int | None = None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep definition; `expand()` turns it into the ordered list of configurations."""

    name: str
    models: tuple[ModelSpec, ...]
    base: dict
    axes: dict
    kind: str = "scan"
    description: str = ""
    devices: tuple[str, ...] = ("auto",)
    dtypes: tuple[str, ...] = ("float32",)
    modes: tuple[str, ...] = ("forward",)
    causal: tuple[bool, ...] = (False,)
    scope: str = "attention"
    tokens: int | None = None
    timing: Timing = field(default_factory=Timing)
    budget: Budget = field(default_factory=Budget)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SweepError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.models:
            raise SweepError("a sweep needs at least one model ([[models]] name = \"fastformer\")")
        for label, values, allowed in (("device", self.devices, ("auto", "cpu", "cuda")),
                                       ("dtype", self.dtypes, DTYPES), ("mode", self.modes, MODES)):
            if not values:
                raise SweepError(f"{label} needs at least one value from {', '.join(allowed)}")
            for value in values:
                if value not in allowed:
                    raise SweepError(f"{label} must be one of {', '.join(allowed)}, got {value!r}")
        if self.scope not in SCOPES:
            raise SweepError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if not self.causal or any(not isinstance(c, bool) for c in self.causal):
            raise SweepError(f"causal must be a list of true/false, got {list(self.causal)!r}")
        for name in set(self.base) | set(self.axes):
            if name not in AXES:
                raise SweepError(f"unknown axis {name!r}; axes are {', '.join(AXES)}")
        for name in AXES:
            coupled = name == "batch" and self.tokens is not None
            if name not in self.base and name not in self.axes and not coupled:
                raise SweepError(f"axis {name} has no value: give it in [base] or [axes]")
        for name, values in self.axes.items():
            if not values:
                raise SweepError(f"axis {name} lists no values")
            for v in values:
                _positive_int(f"axes.{name}", v)
        for name, v in self.base.items():
            _positive_int(f"base.{name}", v)
        if self.tokens is not None:
            _positive_int("tokens", self.tokens)
            if "batch" in self.axes:
                raise SweepError("tokens sets batch = tokens / seq_len; remove the batch axis or tokens")

    def expand(self, cuda_available: bool) -> list[BenchConfig]:
        """All configurations, validated, ordered so each series grows along its axis.

        Models are interleaved at each point, so slow drifts of the machine hit every model alike.
        """
        points = self._points()
        devices = _resolve_devices(self.devices, cuda_available)
        configs: list[BenchConfig] = []
        seen: set[str] = set()
        for device, dtype, mode, causal in itertools.product(devices, self.dtypes, self.modes, self.causal):
            for point in points:
                for spec in self.models:
                    if spec.max_seq_len is not None and point["seq_len"] > spec.max_seq_len:
                        continue
                    try:
                        config = BenchConfig(
                            model=spec.name, options=dict(spec.options), causal=causal, dtype=dtype,
                            device=device, mode=mode, scope=self.scope, warmup=self.timing.warmup,
                            min_repeats=self.timing.min_repeats, max_repeats=self.timing.max_repeats,
                            budget_s=self.timing.budget_s, timeout_s=self.timing.timeout_s,
                            max_memory_bytes=self.timing.max_memory_bytes, threads=self.timing.threads,
                            **point)
                    except (ConfigError, TypeError) as exc:
                        raise SweepError(f"sweep {self.name!r}, model {spec.name}, point {point}: {exc}") from exc
                    if config.key() not in seen:
                        seen.add(config.key())
                        configs.append(config)
        if not configs:
            raise SweepError(f"sweep {self.name!r} expands to no configurations (check max_seq_len caps)")
        _check_models(configs)
        return configs

    def _points(self) -> list[dict]:
        """Axis values of every point, before models and settings are multiplied in."""
        if self.kind == "grid":
            names = [a for a in AXES if a in self.axes]
            products = itertools.product(*(self.axes[a] for a in names))
            combos = [dict(zip(names, values, strict=True)) for values in products]
            points = [{**self.base, **combo} for combo in combos]
        else:
            points = []
            for axis in AXES:
                for value in sorted(self.axes.get(axis, ())):
                    points.append({**{a: self.base.get(a) for a in AXES}, axis: value})
            if not points:
                points = [dict(self.base)]
        resolved = []
        for point in points:
            if self.tokens is not None:
                point = {**point, "batch": 1}
            missing = [a for a in AXES if point.get(a) is None]
            if missing:
                raise SweepError(f"a scan point lacks {', '.join(missing)}: give them in [base]")
            if self.tokens is not None:
                if self.tokens % point["seq_len"] or self.tokens < point["seq_len"]:
                    raise SweepError(f"tokens={self.tokens} is not divisible by seq_len={point['seq_len']}; "
                                     f"use powers of two or drop tokens")
                point = {**point, "batch": self.tokens // point["seq_len"]}
            if point["d_model"] % point["n_heads"]:
                raise SweepError(f"d_model={point['d_model']} is not divisible by n_heads={point['n_heads']}")
            resolved.append(point)
        return resolved


def _positive_int(label: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepError(f"{label} must be a positive integer, got {value!r}")


def _resolve_devices(devices: tuple[str, ...], cuda_available: bool) -> list[str]:
    resolved: list[str] = []
    for device in devices:
        if device == "auto":
            device = "cuda" if cuda_available else "cpu"
        elif device == "cuda" and not cuda_available:
            raise SweepError("device cuda was asked for but torch sees no CUDA device; use device auto or cpu")
        if device not in resolved:
            resolved.append(device)
    return resolved


def _check_models(configs: list[BenchConfig]) -> None:
    """Build each distinct model once on the CPU so bad names, options and lengths fail before running."""
    import models

    checked: set[tuple] = set()
    for config in configs:
        ident = (config.model, tuple(sorted(config.options.items())), config.causal, config.d_model,
                 config.n_heads)
        if ident not in checked:
            checked.add(ident)
            try:
                layer = models.build(config.model, config.d_model, config.n_heads, causal=config.causal,
                                     **config.options)
            except (models.ModelError, TypeError, ValueError) as exc:
                raise SweepError(f"model {config.variant}: {exc}") from exc
            max_len = getattr(layer, "max_len", None)
            longest = max(c.seq_len for c in configs if c.model == config.model and c.options == config.options)
            if max_len is not None and longest > max_len:
                raise SweepError(f"model {config.variant} supports seq_len up to max_len={max_len} but the sweep "
                                 f"asks for {longest}; set options max_len >= {longest} or max_seq_len")


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; errors name the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise SweepError(f"sweep file {path} does not exist; give a TOML file or a preset name "
                         f"({', '.join(list_presets())})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"sweep file {path} is not valid TOML: {exc}") from exc
    try:
        return sweep_from_dict(data, default_name=path.stem)
    except SweepError as exc:
        raise SweepError(f"{path}: {exc}") from exc


def list_presets() -> list[str]:
    """Names of the sweep presets shipped in bench/presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def resolve_sweep(name_or_path: str) -> Sweep:
    """A preset name (e.g. `quick`) or a path to a TOML file."""
    if name_or_path in list_presets():
        return load_sweep(PRESET_DIR / f"{name_or_path}.toml")
    return load_sweep(name_or_path)


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
        scope=data.get("scope", "attention"),
        tokens=data.get("tokens"),
        timing=_timing(_table(data, "timing")),
        budget=_budget(_table(data, "budget")),
    )


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
        _positive_int(f"models[{index}].max_seq_len", cap)
    return ModelSpec(str(entry["name"]), dict(options), cap)


def _timing(table: dict) -> Timing:
    known = {f.name for f in fields(Timing)} - {"max_memory_bytes"} | {"max_memory"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SweepError(f"[timing] has unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    values = {k: v for k, v in table.items() if k != "max_memory"}
    if "max_memory" in table:
        values["max_memory_bytes"] = _bytes("timing.max_memory", table["max_memory"])
    return replace(Timing(), **values)


def _budget(table: dict) -> Budget:
    unknown = sorted(set(table) - {"max_call_s", "max_memory"})
    if unknown:
        raise SweepError(f"[budget] has unknown key(s) {', '.join(unknown)}; valid: max_call_s, max_memory")
    max_call = table.get("max_call_s")
    if max_call is not None and not (isinstance(max_call, (int, float)) and max_call > 0):
        raise SweepError(f"budget.max_call_s must be a positive number of seconds, got {max_call!r}")
    memory = table.get("max_memory")
    return Budget(max_call_s=max_call, max_memory_bytes=_bytes("budget.max_memory", memory) if memory else None)


def _bytes(label: str, value: object) -> int:
    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise SweepError(f"{label}: {exc}") from exc
