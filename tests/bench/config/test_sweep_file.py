"""bench.config.sweep_file: presets and TOML files read into validated sweeps, and back from `to_dict`."""

from __future__ import annotations

import json
import re

import pytest

from bench.config import SweepError, list_presets, load_sweep, sweep_from_dict


def test_sweep_files_are_read_and_their_errors_name_the_file(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('models = ["softmax"]\ndevice = ["cpu"]\n[base]\nseq_len = 16\nbatch = 1\n'
                    'd_model = 16\nn_heads = 2\n')
    assert load_sweep(good).name == "good"
    bad = tmp_path / "bad.toml"
    bad.write_text("models = [\n")
    with pytest.raises(SweepError, match="bad.toml is not valid TOML"):
        load_sweep(bad)
    with pytest.raises(SweepError, match="neither a preset"):
        load_sweep(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", ["quick", "paper-fig2", "lra"])
def test_every_preset_is_valid(name):
    assert name in list_presets()
    configs = load_sweep(name).expand(cuda_available=True)
    assert configs


@pytest.mark.parametrize(("preset", "scope"), [("paper-fig2", "attention"), ("paper-fig2-block", "block")])
def test_paper_fig2_presets_match_the_paper_setup_with_its_whole_row_set(preset, scope):
    configs = load_sweep(preset).expand(cuda_available=True)
    assert {c.seq_len for c in configs} == {2**k for k in range(7, 17)}
    assert all(c.batch * c.seq_len == 65536 and c.d_model == 256 and c.n_heads == 16 for c in configs)
    assert {c.mode for c in configs} == {"forward", "train"} and {c.scope for c in configs} == {scope}
    assert {c.dtype for c in configs} == {"float32", "bfloat16"}
    assert {c.compile for c in configs} == {"eager", "inductor", "inductor-cudagraphs"}
    assert {c.variant for c in configs} >= {
        "softmax", "sdpa", "longformer[window=16]", "linformer[k=16,max_len=65536]", "linear", "fastformer",
        "fastformer[share_qv=False]", "bigbird[block=16]", "poolingformer[window=16]"}
    on_cpu = load_sweep(preset).expand(cuda_available=False)
    assert {c.compile for c in on_cpu} == {"eager", "inductor"}


def test_the_causal_preset_is_the_decoder_setting_up_to_64k():
    configs = load_sweep("causal").expand(cuda_available=True)
    assert all(c.causal for c in configs) and max(c.seq_len for c in configs) == 65536
    assert {c.model for c in configs} == {"fastformer", "linear", "sdpa", "longformer"}


def test_a_sweep_reads_back_from_its_own_mapping_unchanged():
    for name in list_presets():
        sweep = load_sweep(name)
        assert sweep_from_dict(sweep.to_dict()) == sweep


def test_passes_and_seed_in_a_sweep_file_round_trip_through_to_dict(tmp_path):
    path = tmp_path / "replicated.toml"
    path.write_text('models = ["softmax"]\ndevice = ["cpu"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 16\n'
                    'n_heads = 2\n[timing]\npasses = 3\nseed = 7\n')
    sweep = load_sweep(path)
    assert (sweep.timing.passes, sweep.timing.seed) == (3, 7)
    data = sweep.to_dict()
    assert data["timing"]["passes"] == 3 and data["timing"]["seed"] == 7
    again = sweep_from_dict(data)
    assert again == sweep and (again.timing.passes, again.timing.seed) == (3, 7)


def test_a_bad_passes_value_in_a_sweep_file_names_the_file_and_the_field(tmp_path):
    path = tmp_path / "bad_passes.toml"
    path.write_text('models = ["softmax"]\ndevice = ["cpu"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 16\n'
                    'n_heads = 2\n[timing]\npasses = 0\n')
    with pytest.raises(SweepError, match=r"bad_passes\.toml: timing\.passes must be a positive integer, got 0"):
        load_sweep(path)


def test_a_sweep_file_that_is_not_utf8_is_named_with_the_fix(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "café"\n'.encode("latin-1"))
    with pytest.raises(SweepError, match=r"latin1.toml is not UTF-8 text \(byte 11 is b'\\xe9'\).*save it as UTF-8"):
        load_sweep(path)


@pytest.mark.parametrize("timing, message", [
    ({"threads": 1.5}, "timing.threads must be a positive integer, got 1.5"),
    ({"threads": True}, "timing.threads must be a positive integer, got True"),
    ({"timeout_s": True}, "timing.timeout_s must be a positive number of seconds, got True"),
    ({"budget_s": True}, "timing.budget_s must be a positive number of seconds, got True"),
    ({"budget_s": "0.1"}, "timing.budget_s must be a positive number of seconds, got '0.1'"),
    ({"warmup": 1.0}, "timing.warmup must be an integer >= 0, got 1.0"),
    ({"min_repeats": 2.5}, "timing.min_repeats must be a positive integer, got 2.5"),
    ({"max_repeats": False}, "timing.max_repeats must be a positive integer, got False"),
    ({"passes": 0}, "timing.passes must be a positive integer, got 0"),
])
def test_wrong_types_in_timing_are_refused_naming_the_field(timing, message, tmp_path):
    path = tmp_path / "s.toml"
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in timing.items())
    path.write_text(f'models = ["softmax"]\n[base]\nseq_len = 16\nbatch = 1\nd_model = 8\nn_heads = 1\n'
                    f'[timing]\n{lines}\n')
    with pytest.raises(SweepError, match=re.escape(message)):
        load_sweep(path)


def test_a_boolean_budget_is_not_a_number_of_seconds():
    with pytest.raises(SweepError, match="budget.max_call_s must be a positive number of seconds, got True"):
        sweep_from_dict({"models": ["softmax"], "base": {"seq_len": 16, "batch": 1, "d_model": 8, "n_heads": 1},
                         "budget": {"max_call_s": True}})
