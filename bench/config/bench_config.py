"""One benchmark configuration: what to measure and how, validated at construction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

DTYPES = ("float32", "float64", "bfloat16", "float16")
DEVICES = ("cpu", "cuda")
MODES = ("forward", "train")
SCOPES = ("attention", "block")
# How the layer is run: as written, compiled by TorchInductor, or compiled with CUDA graphs ("reduce-overhead").
COMPILE_MODES = ("eager", "inductor", "inductor-cudagraphs")


def options_text(options: Mapping | str | None) -> str:
    """Canonical JSON of a model's options (sorted keys), the form keys and table columns hold."""
    if isinstance(options, str):
        options = json.loads(options) if options.strip() else {}
    return json.dumps(dict(options or {}), sort_keys=True)


def variant_name(model: str, options: Mapping | str | None) -> str:
    """The model with its options, e.g. `fastformer[scorer=official]`: a display label."""
    parsed = json.loads(options_text(options))
    if not parsed:
        return model
    return f"{model}[{','.join(f'{k}={v}' for k, v in sorted(parsed.items()))}]"


# Fields added after results were first stored, with the value every older line implies.
_ADDED_FIELDS = {"pass_index": 0, "compile": "eager", "tf32": False, "energy": False}


class ConfigError(ValueError):
    """A configuration is invalid; the message names the field and what would be valid."""


@dataclass(frozen=True)
class BenchConfig:
    """A single point to measure: model and shape, plus the timing policy used to measure it.

    `bench.results.identity.ConfigKey` is its identity (what is measured, without the timing policy);
    `digest()` is a checksum of every field, stored beside each result so an edited line is detected.
    `pass_index` is which replicated pass over the sweep this measurement belongs to: pass 0 also takes
    the cold call, memory and FLOPs; later passes repeat only the timed samples. `compile` runs the layer
    eagerly or through torch.compile (COMPILE_MODES); `tf32` lets float32 matmuls and convolutions on CUDA
    use TensorFloat-32 (it applies to CUDA float32 only). `energy` adds an energy pass (bench.measure.energy)
    in the first replicated pass: measurement policy like the timing fields, not part of the identity.
    """

    model: str
    batch: int
    seq_len: int
    d_model: int
    n_heads: int
    options: dict = field(default_factory=dict)
    causal: bool = False
    dtype: str = "float32"
    device: str = "cpu"
    mode: str = "forward"
    scope: str = "attention"
    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 1000
    budget_s: float = 0.5
    timeout_s: float = 300.0
    max_memory_bytes: int | None = None
    threads: int | None = None
    seed: int = 0
    pass_index: int = 0
    compile: str = "eager"
    tf32: bool = False
    energy: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("model must be a non-empty model name (see `run_bench.py list-models`)")
        for name in ("batch", "seq_len", "d_model", "n_heads", "min_repeats", "max_repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("warmup", "seed", "pass_index"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.max_repeats < self.min_repeats:
            raise ConfigError(f"max_repeats={self.max_repeats} is below min_repeats={self.min_repeats}")
        for name, allowed in (("dtype", DTYPES), ("device", DEVICES), ("mode", MODES), ("scope", SCOPES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        self._check_limits()
        self._check_execution()
        if not isinstance(self.options, dict):
            raise ConfigError(f"options must be a mapping of option name to value, got {self.options!r}")
        try:
            json.dumps(self.options, sort_keys=True)
        except TypeError as exc:
            raise ConfigError(f"options must be JSON values (numbers, strings, booleans): {exc}") from exc

    def _check_limits(self) -> None:
        """Seconds are numbers (not booleans), memory caps and thread counts positive integers."""
        for name in ("budget_s", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("max_memory_bytes", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")

    def _check_execution(self) -> None:
        """How the layer runs: a known compile mode, CUDA graphs on CUDA only, TF32 for CUDA float32 only; and
        whether an energy pass runs (true or false)."""
        if not isinstance(self.energy, bool):
            raise ConfigError(f"energy must be true or false, got {self.energy!r}")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        if self.compile == "inductor-cudagraphs" and self.device != "cuda":
            raise ConfigError("compile inductor-cudagraphs needs device cuda (CUDA graphs); use inductor on the CPU")
        if not isinstance(self.tf32, bool):
            raise ConfigError(f"tf32 must be true or false, got {self.tf32!r}")
        if self.tf32 and (self.device != "cuda" or self.dtype != "float32"):
            raise ConfigError(f"tf32 applies to float32 on CUDA only, not {self.dtype} on {self.device}; "
                              f"set tf32 false")

    @property
    def variant(self) -> str:
        """The model name with its options, e.g. `fastformer[scorer=official]`; used as a display label."""
        return variant_name(self.model, self.options)

    @property
    def tokens(self) -> int:
        return self.batch * self.seq_len

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BenchConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    def digest(self) -> str:
        """A checksum of every field (the `key` of a stored result line).

        Fields at the value they had before they existed (pass_index 0, compile eager, tf32 false, energy
        false) are left out, so lines written before them keep their key.
        """
        data = self.to_dict()
        for name, before in _ADDED_FIELDS.items():
            if data[name] == before:
                del data[name]
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(blob.encode()).hexdigest()[:16]
