"""Sweeps: which configurations to measure. A validated `Sweep` expands into ordered BenchConfigs.

A sweep names models (with options), the axes seq_len, batch, d_model and n_heads, and the
settings dtype, device, mode, causal, compile and tf32. A compile mode or tf32 value that does not apply to
a device and dtype (CUDA graphs on the CPU, TF32 outside CUDA float32) is left out of those combinations,
so one preset serves both; a list of which nothing applies is an error. Kinds:
- `scan` (the default): vary one axis at a time around a base point, since full grids explode;
- `grid`: the full product of all axis values;
plus `tokens` coupling (batch = tokens / seq_len, as in the paper's Figure 2) on the seq_len axis.
The whole sweep is validated, every model built once, before anything runs. Files are read by
bench.config.sweep_file; the command line's flags are `Overrides`, laid over a sweep's mapping before it
is validated, so flags can complete a file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields

from bench.config.bench_config import COMPILE_MODES, DTYPES, MODES, SCOPES, BenchConfig, ConfigError
from bench.config.executor_settings import ExecutorSettings
from bench.config.units import parse_bytes

AXES = ("seq_len", "batch", "d_model", "n_heads")
KINDS = ("scan", "grid")


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
    """The timing policy copied into every configuration of a sweep.

    `passes` replicated passes each visit every configuration in a fresh random order drawn from `seed`
    (which also seeds the layers' weights and inputs); `bench.run.session` schedules them. `energy` adds an
    energy pass to each configuration's first pass (bench.measure.passes.energy; `energy = false` skips it).
    """

    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 1000
    budget_s: float = 0.5
    timeout_s: float = 300.0
    max_memory_bytes: int | None = None
    threads: int | None = None
    passes: int = 1
    seed: int = 0
    energy: bool = True

    def __post_init__(self) -> None:
        """Types first: a boolean is not a number and a float is not an integer (`threads = 1.5`, `timeout_s =
        true` and `budget_s = "0.1"` are refused here, naming the field, not later by every configuration)."""
        for name in ("min_repeats", "max_repeats", "passes"):
            positive_int(f"timing.{name}", getattr(self, name))
        if self.threads is not None:
            positive_int("timing.threads", self.threads)
        for name in ("warmup", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SweepError(f"timing.{name} must be an integer >= 0, got {value!r}")
        for name in ("budget_s", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise SweepError(f"timing.{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.energy, bool):
            raise SweepError(f"timing.energy must be true or false, got {self.energy!r}")


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
    compile: tuple[str, ...] = ("eager",)
    tf32: tuple[bool, ...] = (False,)
    scope: str = "attention"
    tokens: int | None = None
    timing: Timing = field(default_factory=Timing)
    budget: Budget = field(default_factory=Budget)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SweepError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.models:
            raise SweepError("a sweep needs at least one model ([[models]] name = \"fastformer\")")
        self._check_settings()
        self._check_axes()

    def _check_settings(self) -> None:
        for label, values, allowed in (("device", self.devices, ("auto", "cpu", "cuda")),
                                       ("dtype", self.dtypes, DTYPES), ("mode", self.modes, MODES),
                                       ("compile", self.compile, COMPILE_MODES)):
            if not values:
                raise SweepError(f"{label} needs at least one value from {', '.join(allowed)}")
            for value in values:
                if value not in allowed:
                    raise SweepError(f"{label} must be one of {', '.join(allowed)}, got {value!r}")
        if self.scope not in SCOPES:
            raise SweepError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        for label, values in (("causal", self.causal), ("tf32", self.tf32)):
            if not values or any(not isinstance(v, bool) for v in values):
                raise SweepError(f"{label} must be a list of true/false, got {list(values)!r}")

    def _check_axes(self) -> None:
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
                positive_int(f"axes.{name}", v)
        for name, v in self.base.items():
            positive_int(f"base.{name}", v)
        if self.tokens is not None:
            positive_int("tokens", self.tokens)
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
        settings = _applicable(devices, self.dtypes, self.modes, self.causal, self.compile, self.tf32)
        for device, dtype, mode, causal, compile_mode, tf32 in settings:
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
                            seed=self.timing.seed, energy=self.timing.energy, compile=compile_mode, tf32=tf32,
                            **point)
                    except (ConfigError, TypeError) as exc:
                        raise SweepError(f"sweep {self.name!r}, model {spec.name}, point {point}: {exc}") from exc
                    if config.digest() not in seen:
                        seen.add(config.digest())
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


    def to_dict(self) -> dict:
        """The sweep as the TOML-shaped mapping `sweep_from_dict` reads back into an equal Sweep."""
        timing = {k: v for k, v in asdict(self.timing).items() if k != "max_memory_bytes" and v is not None}
        if self.timing.max_memory_bytes is not None:
            timing["max_memory"] = self.timing.max_memory_bytes
        budget = {"max_call_s": self.budget.max_call_s, "max_memory": self.budget.max_memory_bytes}
        data = {
            "name": self.name, "description": self.description, "kind": self.kind, "device": list(self.devices),
            "dtype": list(self.dtypes), "mode": list(self.modes), "causal": list(self.causal),
            "compile": list(self.compile), "tf32": list(self.tf32), "scope": self.scope,
            "base": dict(self.base), "axes": {k: list(v) for k, v in self.axes.items()}, "timing": timing,
            "budget": {k: v for k, v in budget.items() if v is not None},
            "models": [{k: v for k, v in asdict(m).items() if v is not None} for m in self.models],
        }
        if self.tokens is not None:
            data["tokens"] = self.tokens
        if self.executor.to_dict():
            data["executor"] = self.executor.to_dict()
        return data


@dataclass(frozen=True)
class Overrides:
    """Fields of a sweep set from the command line; None (or empty) leaves the sweep's own value."""

    models: Sequence[ModelSpec] = ()
    seq_len: Sequence[int] = ()
    batch: Sequence[int] = ()
    d_model: Sequence[int] = ()
    n_heads: Sequence[int] = ()
    tokens: int | None = None
    kind: str | None = None
    device: Sequence[str] = ()
    dtype: Sequence[str] = ()
    mode: Sequence[str] = ()
    causal: bool | None = None
    compile: Sequence[str] = ()
    tf32: Sequence[bool] = ()
    scope: str | None = None
    warmup: int | None = None
    min_repeats: int | None = None
    max_repeats: int | None = None
    budget_s: float | None = None
    timeout_s: float | None = None
    max_memory: str | int | None = None
    threads: int | None = None
    passes: int | None = None
    seed: int | None = None
    energy: bool | None = None
    max_call_s: float | None = None
    budget_memory: str | int | None = None

    def onto(self, data: dict) -> dict:
        """A copy of a sweep's TOML-shaped mapping with these fields laid over it (what a file says, then
        the flags). An axis given one value becomes part of the base point; several make it swept."""
        data = {**data, "base": dict(data.get("base", {})), "axes": dict(data.get("axes", {})),
                "timing": dict(data.get("timing", {})), "budget": dict(data.get("budget", {}))}
        for axis in AXES:
            values = list(getattr(self, axis))
            if len(values) == 1:
                data["base"][axis] = values[0]
                data["axes"].pop(axis, None)
            elif values:
                data["axes"][axis] = values
                data["base"].setdefault(axis, values[0])
        if self.models:
            data["models"] = [{"name": m.name, "options": dict(m.options)} for m in self.models]
        for key, value in (("device", self.device), ("dtype", self.dtype), ("mode", self.mode),
                           ("compile", self.compile), ("tf32", self.tf32)):
            if value:
                data[key] = list(value)
        if self.causal is not None:
            data["causal"] = [self.causal]
        for key in ("kind", "scope", "tokens"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        for key in ("warmup", "min_repeats", "max_repeats", "budget_s", "timeout_s", "max_memory", "threads", "passes",
                    "seed", "energy"):
            if getattr(self, key) is not None:
                data["timing"][key] = getattr(self, key)
        for key, name in (("max_call_s", "max_call_s"), ("budget_memory", "max_memory")):
            if getattr(self, key) is not None:
                data["budget"][name] = getattr(self, key)
        return data

    def given(self) -> list[str]:
        """Names of the fields that are set."""
        return [f.name for f in fields(self) if _is_set(getattr(self, f.name))]


def _is_set(value: object) -> bool:
    return value is not None and not (isinstance(value, (list, tuple)) and not value)


# The sweep the command line starts from when it names models but no sweep file.
CUSTOM_SWEEP = {"name": "custom", "base": {"batch": 1, "d_model": 256, "n_heads": 4, "seq_len": 1024}}


def positive_int(label: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepError(f"{label} must be a positive integer, got {value!r}")


def _applicable(devices: Sequence[str], dtypes: Sequence[str], modes: Sequence[str], causal: Sequence[bool],
                compile_modes: Sequence[str], tf32: Sequence[bool]) -> list[tuple]:
    """The setting combinations to measure: CUDA graphs only on CUDA, TF32 only for CUDA float32 (so a
    preset asking for them also runs on a CPU); a compile or tf32 list of which nothing applies to the
    sweep's devices and dtypes is a SweepError."""
    if set(compile_modes) == {"inductor-cudagraphs"} and "cuda" not in devices:
        raise SweepError(f"compile inductor-cudagraphs needs a CUDA device, and the sweep measures on "
                         f"{', '.join(devices)}; use compile eager or inductor")
    if set(tf32) == {True} and not ("cuda" in devices and "float32" in dtypes):
        raise SweepError(f"tf32 true applies to float32 on CUDA only, and the sweep measures "
                         f"{', '.join(dtypes)} on {', '.join(devices)}; use tf32 false")
    combos = itertools.product(devices, dtypes, modes, causal, compile_modes, tf32)
    return [(device, dtype, mode, c, comp, t) for device, dtype, mode, c, comp, t in combos
            if (comp != "inductor-cudagraphs" or device == "cuda")
            and (not t or (device, dtype) == ("cuda", "float32"))]


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
            except Exception as exc:  # noqa: BLE001 - a user's constructor raising anything is bad input too
                raise SweepError(f"model {config.variant}: building it raised {type(exc).__name__}: {exc}") from exc
            max_len = getattr(layer, "max_len", None)
            longest = max(c.seq_len for c in configs if c.model == config.model and c.options == config.options)
            if max_len is not None and longest > max_len:
                raise SweepError(f"model {config.variant} supports seq_len up to max_len={max_len} but the sweep "
                                 f"asks for {longest}; set options max_len >= {longest} or max_seq_len")


def size_field(label: str, value: object) -> int:
    """A memory size from a sweep field or flag; SweepError names the field."""
    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise SweepError(f"{label}: {exc}") from exc
