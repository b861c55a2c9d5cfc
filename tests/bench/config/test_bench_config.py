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
    ({"timeout_s": True}, "timeout_s must be a positive number of seconds, got True"),
    ({"budget_s": "0.1"}, "budget_s must be a positive number of seconds, got '0.1'"),
    ({"threads": 1.5}, "threads must be a positive integer, got 1.5"),
    ({"max_memory_bytes": True}, "max_memory_bytes must be a positive integer, got True"),
    ({"min_repeats": 5, "max_repeats": 2}, "max_repeats"),
    ({"options": {"f": object()}}, "JSON values"),
])
def test_invalid_fields_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _config(**overrides)


def test_unknown_fields_are_refused_when_reading_back():
    with pytest.raises(ConfigError, match="unknown configuration field"):
        BenchConfig.from_dict({**_config().to_dict(), "colour": "red"})


def test_the_digest_of_pass_0_eager_no_tf32_is_the_digest_of_a_configuration_written_before_those_fields():
    import hashlib
    import json

    config = _config(options={"k": 16}, seed=3)
    older = {k: v for k, v in config.to_dict().items() if k not in ("pass_index", "compile", "tf32", "energy")}
    blob = json.dumps(older, sort_keys=True, separators=(",", ":"))
    assert config.pass_index == 0
    assert config.digest() == hashlib.sha1(blob.encode()).hexdigest()[:16]
    assert _config(options={"k": 16}, seed=3, pass_index=0).digest() == config.digest()


def test_later_passes_have_their_own_digest():
    digests = {_config(pass_index=i).digest() for i in range(4)}
    assert len(digests) == 4
    assert _config(pass_index=1).digest() == _config(pass_index=1).digest()
    assert _config(seed=1).digest() != _config().digest()


def test_pass_index_round_trips_through_a_dict():
    config = _config(pass_index=2, seed=5)
    assert config.to_dict()["pass_index"] == 2
    assert BenchConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("field", "value"), [
    ("pass_index", -1), ("pass_index", True), ("pass_index", 1.0), ("pass_index", None),
    ("seed", -1), ("seed", False), ("seed", 0.5),
])
def test_pass_index_and_seed_must_be_integers_of_at_least_zero(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be an integer >= 0, got {value!r}"):
        _config(**{field: value})


def test_compiled_and_tf32_configurations_have_their_own_digest():
    eager = _config(device="cuda")
    assert len({eager.digest(), _config(device="cuda", compile="inductor").digest(),
                _config(device="cuda", tf32=True).digest()}) == 3


@pytest.mark.parametrize(("fields", "words"), [
    ({"compile": "jit"}, "compile must be one of eager, inductor, inductor-cudagraphs"),
    ({"compile": "inductor-cudagraphs", "device": "cpu"}, "needs device cuda"),
    ({"tf32": True, "device": "cpu"}, "tf32 applies to float32 on CUDA only"),
    ({"tf32": True, "device": "cuda", "dtype": "bfloat16"}, "tf32 applies to float32 on CUDA only"),
    ({"tf32": "yes"}, "tf32 must be true or false"),
    ({"energy": "yes"}, "energy must be true or false"),
])
def test_compile_and_tf32_are_validated(fields, words):
    with pytest.raises(ConfigError, match=words):
        _config(**fields)


def test_energy_is_measurement_policy_not_identity():
    from bench.results.identity import ConfigKey

    plain, measured = _config(), _config(energy=True)
    assert measured.digest() != plain.digest()
    assert ConfigKey.from_dict(measured.to_dict()) == ConfigKey.from_dict(plain.to_dict())
    assert BenchConfig.from_dict(measured.to_dict()) == measured
    older = {k: v for k, v in plain.to_dict().items() if k != "energy"}
    assert BenchConfig.from_dict(older) == plain
