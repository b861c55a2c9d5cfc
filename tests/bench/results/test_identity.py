"""bench.results.identity: the keys of a configuration, a series and a machine, torch-free."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from bench.config import BenchConfig
from bench.results.identity import ConfigKey, SeriesKey, fingerprint_id, hardware_key, variant_name


def test_a_config_key_ignores_the_timing_policy_and_is_the_same_from_a_config_or_a_table_row():
    config = BenchConfig(model="linear", batch=2, seq_len=128, d_model=32, n_heads=4, options={"chunk_size": 8})
    key = ConfigKey.from_dict(config.to_dict())
    assert key == ConfigKey.from_dict(dataclasses.replace(config, budget_s=9.0, threads=1).to_dict())
    row = {**config.to_dict(), "options": json.dumps(config.options), "causal": "False", "batch": 2.0}
    assert ConfigKey.from_dict(row) == key and hash(ConfigKey.from_dict(row)) == hash(key)
    assert key != ConfigKey.from_dict({**config.to_dict(), "seq_len": 256})


def test_a_config_key_round_trips_through_plain_json_and_labels_itself_for_people():
    key = ConfigKey.from_dict(BenchConfig(model="fastformer", batch=2, seq_len=1024, d_model=64, n_heads=4,
                                          causal=True, scope="block").to_dict())
    assert ConfigKey.from_dict(json.loads(json.dumps(key.to_dict()))) == key
    assert key.label() == "fastformer N=1024 b=2 d=64 h=4 causal float32 cpu forward block"
    assert key.variant == "fastformer"


def test_a_series_key_round_trips_and_labels_itself_for_people():
    key = SeriesKey(axis="seq_len", coupling="tokens", fixed=(("tokens", 4096), ("d_model", 64), ("n_heads", 4)),
                    causal=False, dtype="float32", device="cpu", mode="forward", scope="attention",
                    hardware="Test CPU", model="linear", options='{"chunk_size": 8}')
    assert SeriesKey.from_dict(json.loads(json.dumps(key.to_dict()))) == key
    assert key.label() == "linear[chunk_size=8] tokens=4096 d=64 h=4 float32 cpu forward"
    assert key.fixed_label() == "tokens=4096, d_model=64, n_heads=4"


def test_variant_names_list_options_sorted():
    assert variant_name("fastformer", {"share_qv": False, "scorer": "official"}) == \
        "fastformer[scorer=official,share_qv=False]"
    assert variant_name("softmax", "{}") == "softmax"


def test_environment_ids_hash_only_stable_fields_and_hardware_keys_name_the_device():
    fp = {"cpu_model": "X", "cpu_logical_cores": 2, "gpu_name": "H200", "timestamp": 1.0}
    assert fingerprint_id(fp) == fingerprint_id({**fp, "timestamp": 2.0})
    assert fingerprint_id(fp) != fingerprint_id({**fp, "cpu_model": "Y"})
    assert hardware_key(fp) == "gpu:H200" and hardware_key(fp, "cpu") == "cpu:X x2"


def test_identity_imports_neither_torch_nor_pandas():
    code = "import sys, bench.results.identity; assert not {'torch', 'pandas'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
