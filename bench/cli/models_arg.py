"""Reading `--models`: comma-separated registered names or package.module:Class, each with [options]."""

from __future__ import annotations

from bench.cli.common import UsageError


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


def split_models(text: str) -> list[str]:
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


def parse_variant(text: str) -> dict:
    """'fastformer[scorer=official,share_qv=false]' -> {"name": "fastformer", "options": {...}}."""
    name, bracket, rest = text.partition("[")
    options: dict = {}
    if bracket:
        if not rest.endswith("]"):
            raise UsageError(f"model {text!r}: options must be closed with ], e.g. fastformer[scorer=official]")
        for item in (v.strip() for v in rest[:-1].split(",") if v.strip()):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise UsageError(f"model {text!r}: option {item!r} must be name=value")
            options[key.strip()] = _option_value(value.strip())
    return {"name": name.strip(), "options": options}
