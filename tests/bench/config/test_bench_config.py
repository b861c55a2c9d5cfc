"""A BenchConfig is validated at construction and has a stable identity."""

import pytest

from bench.config import BenchConfig, ConfigError


def _config(**overrides) -> BenchConfig:
    fields = {"model": "softmax", "batch": 2, "seq_len": 128, "d_model": 64, "n_heads": 4}
    fields.update(overrides)
    return BenchConfig(**fields)


def test_digest_is_stable_and_changes_with_any_field():
    assert _config().digest() == _config().digest()
    assert _config().digest() != _config(seq_len=256).digest()
    assert _config().digest() != _config(options={"k": 1}).digest()


def test_variant_names_model_and_sorted_options():
    assert _config().variant == "softmax"
    assert _config(model="fastformer", options={"share_qv": False, "scorer": "official"}).variant == \
        "fastformer[scorer=official,share_qv=False]"


def test_round_trip_through_a_dict():
    config = _config(options={"k": 16}, max_memory_bytes=1 << 30)
    assert BenchConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("overrides", "message"), [
    ({"batch": 0}, "batch must be a positive integer"),
    ({"seq_len": 1.5}, "seq_len must be a positive integer"),
    ({"n_heads": 5}, "not divisible"),
    ({"dtype": "float8"}, "dtype must be one of"),
    ({"device": "tpu"}, "device must be one of"),
    ({"mode": "eval"}, "mode must be one of"),
    ({"scope": "model"}, "scope must be one of"),
    ({"budget_s": 0}, "budget_s"),
    ({"min_repeats": 5, "max_repeats": 2}, "max_repeats"),
    ({"options": {"f": object()}}, "JSON values"),
])
def test_invalid_fields_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _config(**overrides)


def test_unknown_fields_are_refused_when_reading_back():
    with pytest.raises(ConfigError, match="unknown configuration field"):
        BenchConfig.from_dict({**_config().to_dict(), "colour": "red"})
