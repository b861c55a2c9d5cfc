"""The gate's policy: what counts as a regression, read from TOML (or JSON) and validated strictly.

The default is bench/gate/gate_policy.toml, whose comments document every key. Unknown keys are errors,
so a typo cannot silently disable a check.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.config import toml
from bench.gate.errors import GateError

POLICY_SCHEMA = 1
DEFAULT_POLICY_PATH = Path(__file__).with_name("gate_policy.toml")

_RULE_FIELDS = ("threshold", "floor_s", "alpha")
_BOUNDS = ("time_exponent_max", "memory_exponent_max")
_POLICY_KEYS = ("schema", "reference", "scaling", "relative", "absolute", "moving_reference", "shared", "complexity",
                "models", "crossovers")
OTHER_HARDWARE_ACTIONS = ("fail", "report")


@dataclasses.dataclass(frozen=True)
class SpeedRule:
    """A slowdown counts when it exceeds `threshold` (fraction), costs more than `floor_s` and p < alpha."""

    threshold: float
    floor_s: float
    alpha: float


@dataclasses.dataclass(frozen=True)
class ModelRule:
    """What the policy asks of one variant: exponent bounds (None: unbounded) and its speed rules."""

    time_exponent_max: float | None
    memory_exponent_max: float | None
    relative: SpeedRule
    absolute: SpeedRule


@dataclasses.dataclass(frozen=True)
class CrossoverRule:
    """`variant` must keep beating `reference` from no later than max_factor x baseline / max_seq_len."""

    variant: str
    reference: str
    max_factor: float | None
    max_seq_len: int | None


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """The parsed policy; `rule_for` resolves what it asks of one variant.

    `complexity` maps a complexity class ("linear", "quadratic", ...) to its default exponent bounds;
    `models` maps a model or exact variant to its bounds and speed-rule overrides.
    """

    reference: str
    upper_fraction: float
    relative: SpeedRule
    absolute: SpeedRule
    models: Mapping[str, Mapping]
    crossovers: tuple[CrossoverRule, ...]
    complexity: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    max_exponent_increase: float = 0.1
    reference_move: float = 0.15
    shared_threshold: float = 0.3
    other_hardware: str = "fail"

    def names(self) -> list[tuple[str, str]]:
        """Every model or variant name the policy refers to, with where: for `check_names`."""
        named = [(self.reference, "reference"), *((name, f"[models.{name}]") for name in self.models)]
        for i, rule in enumerate(self.crossovers):
            named += [(rule.variant, f"crossovers[{i}].variant"), (rule.reference, f"crossovers[{i}].reference")]
        return named

    def check_names(self, known: set[str], source: str = "<policy>") -> None:
        """GateError for a name that is none of `known` (models and variants), with the closest valid one.

        A variant such as `linear[chunk_size=128]` is valid when its model is known.
        """
        for name, where in self.names():
            if name in known or name.split("[", 1)[0] in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GateError(f"policy {source}: unknown model {name!r} in {where}{hint}; valid names: "
                            f"{', '.join(sorted(known))}")

    def rule_for(self, variant: str, model: str, *, time_class: str | None = None,
                 memory_class: str | None = None) -> ModelRule:
        """The rule for `variant` of `model`, whose series declare `time_class` / `memory_class`.

        Each exponent bound comes from the exact variant's entry, else the model's, else the declared
        class's `[complexity.<class>]` table, else there is none. Speed overrides come from the exact
        variant's entry if it exists, else the model's, over the policy's defaults.
        """
        entries = [self.models[name] for name in (variant, model) if name in self.models]
        bounds = {}
        for bound, declared in zip(_BOUNDS, (time_class, memory_class), strict=True):
            candidates = [*entries, self.complexity.get(declared or "", {})]
            bounds[bound] = next((entry[bound] for entry in candidates if bound in entry), None)
        entry = entries[0] if entries else {}
        return ModelRule(**bounds, relative=_merge_rule(self.relative, entry.get("relative")),
                         absolute=_merge_rule(self.absolute, entry.get("absolute")))


def _merge_rule(base: SpeedRule, override: Mapping | None) -> SpeedRule:
    if not override:
        return base
    return SpeedRule(**{name: override.get(name, getattr(base, name)) for name in _RULE_FIELDS})


def _check_keys(table: object, allowed: Sequence[str], where: str, source: str) -> Mapping:
    if not isinstance(table, Mapping):
        raise GateError(f"policy {source}: {where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise GateError(f"policy {source}: unknown key(s) {', '.join(unknown)} in {where}; "
                        f"valid keys: {', '.join(allowed)}")
    return table


def _number(value: object, name: str, source: str, *, zero_ok: bool = False, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero_ok)):
        kind = "integer" if integer else "number"
        raise GateError(f"policy {source}: {name} must be a {kind} {'>=' if zero_ok else '>'} 0, got {value!r}")
    return value


def _speed_rule(table: object, where: str, source: str, base: SpeedRule) -> SpeedRule:
    """The rule in `table`, with any field it leaves out taken from `base`."""
    table = _check_keys(table, _RULE_FIELDS, where, source)
    values = {name: _number(table[name], f"{where}.{name}", source, zero_ok=name == "floor_s")
              if name in table else getattr(base, name) for name in _RULE_FIELDS}
    if not values["alpha"] < 1:
        raise GateError(f"policy {source}: {where}.alpha must be below 1, got {values['alpha']}")
    return SpeedRule(**values)


def _named_tables(top: Mapping, name: str, source: str) -> Mapping[str, object]:
    tables = top.get(name, {})
    if not isinstance(tables, Mapping):
        raise GateError(f"policy {source}: [{name}] must be a table of [{name}.<name>] tables")
    return tables


def _bounds(entry: Mapping, where: str, source: str) -> dict[str, float]:
    return {bound: float(_number(entry[bound], f"{where}.{bound}", source)) for bound in _BOUNDS if bound in entry}


def _models(top: Mapping, source: str, relative: SpeedRule, absolute: SpeedRule) -> dict[str, dict]:
    """The [models.<variant>] tables: exponent bounds and speed-rule overrides, validated."""
    models: dict[str, dict] = {}
    for name, entry in _named_tables(top, "models", source).items():
        where = f"models.{name}"
        entry = _check_keys(entry, (*_BOUNDS, "relative", "absolute"), f"[{where}]", source)
        parsed: dict = _bounds(entry, where, source)
        for kind, base in (("relative", relative), ("absolute", absolute)):
            if kind in entry:
                rule = _speed_rule(entry[kind], f"{where}.{kind}", source, base)
                parsed[kind] = {field: getattr(rule, field) for field in _RULE_FIELDS}
        models[name] = parsed
    return models


def _complexity(top: Mapping, source: str) -> dict[str, dict[str, float]]:
    """The [complexity.<class>] tables: default exponent bounds of the layers declaring that class."""
    return {name: _bounds(_check_keys(entry, _BOUNDS, f"[complexity.{name}]", source), f"complexity.{name}", source)
            for name, entry in _named_tables(top, "complexity", source).items()}


def _crossover_rules(top: Mapping, source: str) -> tuple[CrossoverRule, ...]:
    pairs = top.get("crossovers", [])
    if not isinstance(pairs, list):
        raise GateError(f"policy {source}: crossovers must be an array of tables ([[crossovers]])")
    rules = []
    for i, pair in enumerate(pairs):
        where = f"crossovers[{i}]"
        pair = _check_keys(pair, ("variant", "reference", "max_factor", "max_seq_len"), where, source)
        for name in ("variant", "reference"):
            if not isinstance(pair.get(name), str) or not pair[name]:
                raise GateError(f"policy {source}: {where} needs {name} = \"<variant name>\"")
        max_factor = pair.get("max_factor")
        max_seq_len = pair.get("max_seq_len")
        if max_factor is None and max_seq_len is None:
            raise GateError(f"policy {source}: {where} needs max_factor and/or max_seq_len, "
                            f"else it checks nothing")
        if max_factor is not None and _number(max_factor, f"{where}.max_factor", source) < 1:
            raise GateError(f"policy {source}: {where}.max_factor must be >= 1, got {max_factor}")
        if max_seq_len is not None:
            _number(max_seq_len, f"{where}.max_seq_len", source, integer=True)
        rules.append(CrossoverRule(pair["variant"], pair["reference"],
                                   float(max_factor) if max_factor is not None else None, max_seq_len))
    return tuple(rules)


def policy_from_dict(data: Mapping, source: str = "<policy>") -> GatePolicy:
    """Validate a policy mapping (the parsed TOML/JSON) and build a GatePolicy; GateError names bad keys."""
    top = _check_keys(data, _POLICY_KEYS, "the top level", source)
    if top.get("schema", POLICY_SCHEMA) != POLICY_SCHEMA:
        raise GateError(f"policy {source}: schema {top.get('schema')!r} is not supported; "
                        f"this version reads schema {POLICY_SCHEMA}")
    reference = top.get("reference", "sdpa")
    if not isinstance(reference, str) or not reference:
        raise GateError(f"policy {source}: reference must be a variant name such as 'sdpa', "
                        f"got {reference!r}")
    scaling = _check_keys(top.get("scaling", {}), ("upper_fraction", "max_increase"), "[scaling]", source)
    upper_fraction = _number(scaling.get("upper_fraction", 0.5), "scaling.upper_fraction", source)
    if upper_fraction > 1:
        raise GateError(f"policy {source}: scaling.upper_fraction must be in (0, 1], got {upper_fraction}")
    relative = _speed_rule(top.get("relative", {}), "relative", source,
                           SpeedRule(threshold=0.25, floor_s=2e-5, alpha=0.01))
    absolute = _speed_rule(top.get("absolute", {}), "absolute", source,
                           SpeedRule(threshold=0.4, floor_s=2e-5, alpha=0.01))
    moving = _check_keys(top.get("moving_reference", {}), ("threshold",), "[moving_reference]", source)
    shared = _check_keys(top.get("shared", {}), ("threshold", "other_hardware"), "[shared]", source)
    other_hardware = shared.get("other_hardware", "fail")
    if other_hardware not in OTHER_HARDWARE_ACTIONS:
        raise GateError(f"policy {source}: shared.other_hardware must be one of "
                        f"{', '.join(map(repr, OTHER_HARDWARE_ACTIONS))}, got {other_hardware!r}")
    return GatePolicy(reference, float(upper_fraction), relative, absolute,
                      _models(top, source, relative, absolute), _crossover_rules(top, source),
                      _complexity(top, source),
                      max_exponent_increase=float(_number(scaling.get("max_increase", 0.1), "scaling.max_increase",
                                                          source)),
                      reference_move=float(_number(moving.get("threshold", 0.15), "moving_reference.threshold",
                                                   source)),
                      shared_threshold=float(_number(shared.get("threshold", 0.3), "shared.threshold", source)),
                      other_hardware=other_hardware)


def load_policy(path: str | Path | None = None) -> GatePolicy:
    """Read a policy file (TOML, or JSON by extension); None means the default bench/gate/gate_policy.toml."""
    path = Path(path) if path is not None else DEFAULT_POLICY_PATH
    if not path.is_file():
        raise GateError(f"no gate policy at {path}; pass --policy with an existing file "
                        f"or omit it to use {DEFAULT_POLICY_PATH}")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = toml.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GateError(f"policy {path} cannot be parsed: {exc}") from exc
    return policy_from_dict(data, str(path))
