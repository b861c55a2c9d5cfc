"""The identity of a measurement, of a series and of a machine: the keys every layer uses.

`ConfigKey` is what was measured (model with options, shape, setting), without the timing policy:
analysis groups by its fields, compare joins on it and the gate keys its baseline by it. `PassKey` is a
configuration in one replicated pass: a results file holds one record per PassKey, and the store
deduplicates and resumes on it. `SeriesKey` is a configuration less its swept axis (plus the hardware), the
identity of one scaling series or crossover. Both are frozen, hashable and serialise to plain dicts
(`to_dict` / `from_dict`); their `label()` is for people and is never parsed back.

`fingerprint_id` and `hardware_key` identify an environment fingerprint (bench.measure.environment
takes it). Pure Python: importing this module imports neither torch nor pandas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from bench.config.bench_config import options_text, variant_name

MODEL_FIELDS = ("model", "options")
SHAPE_FIELDS = ("batch", "seq_len", "d_model", "n_heads")
SETTING_FIELDS = ("causal", "dtype", "device", "mode", "scope", "compile", "tf32")
KEY_FIELDS = (*MODEL_FIELDS, *SHAPE_FIELDS, *SETTING_FIELDS)
# The hardware column of a results table (bench.results.table) is part of a series' identity: rows
# measured on different hardware never share a series.
HARDWARE_FIELD = "device_name"

FINGERPRINT_KEYS = (
    "python_version", "torch_version", "cuda_version", "cudnn_version", "gpu_name", "gpu_count",
    "gpu_memory_bytes", "driver_version", "cpu_model", "cpu_logical_cores", "cpu_physical_cores",
    "torch_threads", "os", "kernel", "machine", "packages", "git_commit", "git_dirty", "hostname_hash",
    "timestamp",
)
# cudnn_version is left out: where cuDNN is not a pip distribution it is known only after CUDA is initialised.
ID_FIELDS = (
    "python_version", "torch_version", "cuda_version", "gpu_name", "gpu_count",
    "gpu_memory_bytes", "driver_version", "cpu_model", "cpu_logical_cores", "cpu_physical_cores",
    "os", "kernel", "machine", "packages",
)
_SHORT = {"batch": "b", "seq_len": "N", "d_model": "d", "n_heads": "h", "tokens": "tokens", "head_dim": "d_h"}


def _setting_text(causal: bool, dtype: str, device: str, mode: str, scope: str, compile: str = "eager",
                  tf32: bool = False) -> str:
    flag = " causal" if causal else ""
    precision = f"{dtype}+tf32" if tf32 else dtype
    where = "" if scope == "attention" else f" {scope}"
    compiled = "" if compile == "eager" else f" {compile}"
    return f"{flag} {precision} {device} {mode}{where}{compiled}"


def flag(value: object) -> bool:
    """A boolean from a stored or tabled value: True, "True"/"true"; missing (None, NaN) is False."""
    return value is True or str(value).lower() == "true"


def compile_mode(value: object) -> str:
    """A compile mode from a stored or tabled value; missing (older results: None, NaN, "") is "eager"."""
    return value if isinstance(value, str) and value else "eager"


@dataclass(frozen=True)
class ConfigKey:
    """What one configuration measures; equal keys are the same measurement whatever the timing policy."""

    model: str
    options: str
    batch: int
    seq_len: int
    d_model: int
    n_heads: int
    causal: bool
    dtype: str
    device: str
    mode: str
    scope: str
    compile: str = "eager"
    tf32: bool = False

    @classmethod
    def from_dict(cls, data: Mapping) -> ConfigKey:
        """From any mapping with the KEY_FIELDS (a table row, a BenchConfig dict, a stored key); `compile` and
        `tf32`, which older results lack, default to eager and false."""
        return cls(model=str(data["model"]), options=options_text(data.get("options")),
                   **{name: int(data[name]) for name in SHAPE_FIELDS},
                   causal=flag(data["causal"]), dtype=str(data["dtype"]), device=str(data["device"]),
                   mode=str(data["mode"]), scope=str(data["scope"]), compile=compile_mode(data.get("compile")),
                   tf32=flag(data.get("tf32")))

    def to_dict(self) -> dict:
        """Plain JSON-able fields; `options` as a mapping."""
        return {**asdict(self), "options": json.loads(self.options)}

    @property
    def variant(self) -> str:
        return variant_name(self.model, self.options)

    def label(self) -> str:
        """Readable identity, e.g. `fastformer N=1024 b=2 d=64 h=4 float32 cpu forward` (display only)."""
        shape = " ".join(f"{_SHORT[name]}={getattr(self, name)}" for name in ("seq_len", "batch", "d_model",
                                                                              "n_heads"))
        return self.variant + " " + shape + _setting_text(self.causal, self.dtype, self.device, self.mode,
                                                          self.scope, self.compile, self.tf32)

    def setting(self) -> tuple:
        """The setting fields as a tuple: what a comparison between models or sizes holds fixed."""
        return tuple(getattr(self, name) for name in SETTING_FIELDS)


@dataclass(frozen=True)
class PassKey:
    """One replicated pass (`index`, from 0) of one configuration: what a results file holds once."""

    config: ConfigKey
    index: int = 0

    def label(self) -> str:
        """Readable identity, e.g. `fastformer N=1024 ... forward, pass 2` (display only)."""
        return f"{self.config.label()}, pass {self.index}"


@dataclass(frozen=True)
class ProbeSpec:
    """What a machine-speed probe (bench.measure.probe) measures: device, dtype, width, CPU threads."""

    device: str
    dtype: str
    d_model: int
    threads: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbeSpec:
        threads = data.get("threads")
        return cls(str(data["device"]), str(data["dtype"]), int(data["d_model"]),
                   None if threads is None else int(threads))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SeriesKey:
    """One series: a configuration less its swept `axis`, the `coupling` that relates the rest, the
    values held `fixed`, and the hardware. `model` is empty for a series that spans every model."""

    axis: str
    coupling: str
    fixed: tuple[tuple[str, int], ...]
    causal: bool
    dtype: str
    device: str
    mode: str
    scope: str
    hardware: str = ""
    model: str = ""
    options: str = "{}"
    compile: str = "eager"
    tf32: bool = False

    @classmethod
    def from_dict(cls, data: Mapping) -> SeriesKey:
        """From `to_dict()`'s output (a stored baseline entry)."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["fixed"] = tuple((str(name), int(value)) for name, value in data["fixed"])
        values["options"] = options_text(data.get("options"))
        values["causal"] = bool(data["causal"])
        values["compile"] = compile_mode(data.get("compile"))
        values["tf32"] = flag(data.get("tf32"))
        return cls(**values)

    def to_dict(self) -> dict:
        return {**asdict(self), "fixed": [list(item) for item in self.fixed]}

    @property
    def variant(self) -> str:
        return variant_name(self.model, self.options) if self.model else ""

    def fixed_label(self) -> str:
        """The values held fixed, e.g. `batch=2, d_model=64, n_heads=4`."""
        return ", ".join(f"{name}={value}" for name, value in self.fixed)

    def label(self) -> str:
        """Readable identity, e.g. `fastformer b=2 d=64 h=4 float32 cpu forward` (display only)."""
        fixed = " ".join(f"{_SHORT.get(name, name)}={value}" for name, value in self.fixed)
        text = (f"{self.variant} " if self.model else "") + fixed
        return text + _setting_text(self.causal, self.dtype, self.device, self.mode, self.scope, self.compile,
                                    self.tf32)


def fingerprint_id(fp: Mapping) -> str:
    """Stable short hash of the hardware and software fields (ID_FIELDS) of a fingerprint."""
    stable = {key: fp.get(key) for key in ID_FIELDS}
    blob = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def hardware_key(fp: Mapping, device: str | None = None) -> str:
    """What "the same hardware" means when comparing results: the GPU, else the CPU model and cores.

    Pass device="cpu" for CPU results taken on a machine that also has a GPU.
    """
    if fp.get("gpu_name") and device != "cpu":
        return f"gpu:{fp['gpu_name']}"
    return f"cpu:{fp.get('cpu_model')} x{fp.get('cpu_logical_cores')}"
