"""Sweep files and flags expand into validated, ordered configurations; bad input fails before running."""

from __future__ import annotations

import pytest

from bench.config import ModelSpec, Overrides, SweepError, custom_sweep, load_sweep, sweep_from_dict


def _sweep(**overrides) -> dict:
    data = {
        "name": "t",
        "base": {"seq_len": 64, "batch": 1, "d_model": 32, "n_heads": 4},
        "axes": {"seq_len": [32, 64, 128]},
        "models": [{"name": "softmax"}, {"name": "fastformer", "options": {"scorer": "official"}}],
        "device": ["cpu"],
    }
    data.update(overrides)
    return data


def test_scan_varies_one_axis_at_a_time_around_the_base_point():
    sweep = sweep_from_dict(_sweep(axes={"seq_len": [32, 128], "batch": [2, 4]}))
    configs = sweep.expand(cuda_available=False)
    points = {(c.seq_len, c.batch) for c in configs}
    assert points == {(32, 1), (128, 1), (64, 2), (64, 4)}
    assert len(configs) == 2 * len(points)


def test_grid_is_the_full_product():
    sweep = sweep_from_dict(_sweep(kind="grid", axes={"seq_len": [32, 128], "batch": [2, 4]}))
    points = {(c.seq_len, c.batch) for c in sweep.expand(cuda_available=False)}
    assert points == {(32, 2), (32, 4), (128, 2), (128, 4)}


def test_tokens_coupling_sets_batch_from_seq_len():
    sweep = sweep_from_dict(_sweep(tokens=256))
    assert {(c.seq_len, c.batch) for c in sweep.expand(cuda_available=False)} == {(32, 8), (64, 4), (128, 2)}


def test_series_grow_along_the_axis_and_models_are_interleaved():
    configs = sweep_from_dict(_sweep()).expand(cuda_available=False)
    assert [c.seq_len for c in configs] == [32, 32, 64, 64, 128, 128]
    assert [c.variant for c in configs[:2]] == ["softmax", "fastformer[scorer=official]"]


def test_auto_device_falls_back_to_cpu_and_cuda_without_gpu_is_refused():
    assert {c.device for c in sweep_from_dict(_sweep(device=["auto"])).expand(cuda_available=False)} == {"cpu"}
    assert {c.device for c in sweep_from_dict(_sweep(device=["auto"])).expand(cuda_available=True)} == {"cuda"}
    with pytest.raises(SweepError, match="no CUDA device"):
        sweep_from_dict(_sweep(device=["cuda"])).expand(cuda_available=False)


def test_both_devices_in_one_sweep():
    configs = sweep_from_dict(_sweep(device=["cpu", "cuda"])).expand(cuda_available=True)
    assert {c.device for c in configs} == {"cpu", "cuda"}


def test_per_model_max_seq_len_caps_its_series():
    data = _sweep(models=[{"name": "softmax", "max_seq_len": 64}, {"name": "linear"}])
    configs = sweep_from_dict(data).expand(cuda_available=False)
    assert max(c.seq_len for c in configs if c.model == "softmax") == 64
    assert max(c.seq_len for c in configs if c.model == "linear") == 128


def test_timing_and_budget_tables_reach_every_configuration():
    data = _sweep(timing={"warmup": 0, "min_repeats": 2, "budget_s": 0.01, "max_memory": "1GiB"},
                  budget={"max_call_s": 1.5, "max_memory": "2GiB"})
    sweep = sweep_from_dict(data)
    assert sweep.budget.max_call_s == 1.5 and sweep.budget.max_memory_bytes == 2 * 1024**3
    for config in sweep.expand(cuda_available=False):
        assert (config.warmup, config.min_repeats, config.budget_s) == (0, 2, 0.01)
        assert config.max_memory_bytes == 1024**3


@pytest.mark.parametrize(("overrides", "message"), [
    ({"kind": "cube"}, "kind must be one of"),
    ({"models": []}, "at least one model"),
    ({"models": [{"name": "nosuch"}]}, "unknown model 'nosuch'"),
    ({"models": [{"name": "fastformer", "options": {"colour": 1}}]}, "no option"),
    ({"models": [{"name": "fastformer", "options": {"scorer": "magic"}}]}, "scorer"),
    ({"models": [{"name": "linformer"}], "causal": [True]}, "no causal form"),
    ({"models": [{"name": "linformer", "options": {"max_len": 64}}]}, "max_len=64"),
    ({"axes": {"width": [1]}}, "unknown axis 'width'"),
    ({"axes": {"seq_len": [0]}}, "positive integer"),
    ({"axes": {"seq_len": []}}, "lists no values"),
    ({"base": {"seq_len": 64, "batch": 1, "d_model": 30, "n_heads": 4}}, "not divisible"),
    ({"tokens": 100}, "not divisible"),
    ({"tokens": 256, "axes": {"batch": [1, 2]}}, "remove the batch axis"),
    ({"dtype": ["float8"]}, "dtype must be one of"),
    ({"mode": ["inference"]}, "mode must be one of"),
    ({"colour": "red"}, "unknown key"),
    ({"timing": {"budget_s": -1}}, "budget_s"),
    ({"timing": {"max_memory": "lots"}}, "cannot read memory size"),
    ({"budget": {"max_call_s": 0}}, "max_call_s"),
])
def test_invalid_sweeps_fail_with_a_message_that_names_the_problem(overrides, message):
    with pytest.raises(SweepError, match=message):
        sweep_from_dict(_sweep(**overrides)).expand(cuda_available=False)


def test_overrides_replace_only_the_fields_given_and_one_value_moves_an_axis_into_the_base():
    data = _sweep(axes={"seq_len": [32, 64, 128], "batch": [1, 2]})
    sweep = sweep_from_dict(data)
    changed = sweep_from_dict(Overrides(seq_len=[256], d_model=[16, 32], threads=1, max_memory="1GiB",
                                        mode=["train"], causal=True).onto(data))
    assert changed.base["seq_len"] == 256 and "seq_len" not in changed.axes
    assert changed.axes["d_model"] == (16, 32) and changed.axes["batch"] == (1, 2)
    assert changed.timing.threads == 1 and changed.timing.max_memory_bytes == 2**30
    assert changed.modes == ("train",) and changed.causal == (True,)
    assert changed.models == sweep.models and changed.name == sweep.name
    assert sweep_from_dict(Overrides().onto(data)) == sweep
    assert sweep_from_dict(Overrides(batch=[4]).onto(sweep.to_dict())).base["batch"] == 4


def test_overrides_are_validated_like_a_file():
    with pytest.raises(SweepError, match="dtype must be one of"):
        sweep_from_dict(Overrides(dtype=["float8"]).onto(_sweep()))
    with pytest.raises(SweepError, match="cannot read memory size"):
        sweep_from_dict(Overrides(max_memory="lots").onto(_sweep()))
    assert Overrides(threads=2, dtype=["float32"]).given() == ["dtype", "threads"]


def test_the_custom_sweep_measures_the_given_models_at_one_point():
    configs = custom_sweep(Overrides(models=[ModelSpec("softmax")], device=["cpu"])).expand(cuda_available=False)
    assert [(c.model, c.seq_len, c.batch, c.d_model, c.n_heads) for c in configs] == [("softmax", 1024, 1, 256, 4)]


def test_flags_are_laid_over_the_file_before_it_is_validated(tmp_path):
    partial = tmp_path / "partial.toml"
    partial.write_text('device = ["cpu"]\n[base]\nseq_len = 16\nbatch = 1\n')
    with pytest.raises(SweepError, match="models is required"):
        load_sweep(partial)
    sweep = load_sweep(partial, Overrides(models=[ModelSpec("softmax")], d_model=[32], n_heads=[4]))
    assert [(c.model, c.d_model) for c in sweep.expand(cuda_available=False)] == [("softmax", 32)]


def test_budget_flags_are_validated_like_the_file():
    with pytest.raises(SweepError, match="max_call_s must be a positive number"):
        sweep_from_dict(Overrides(max_call_s=0.0).onto(_sweep()))


@pytest.mark.parametrize("passes", [0, -1, 1.5, True, "3", None])
def test_timing_passes_must_be_a_positive_integer(passes):
    from bench.config import Timing

    with pytest.raises(SweepError, match=r"timing\.passes must be a positive integer, got "):
        Timing(passes=passes)
    with pytest.raises(SweepError, match=r"timing\.passes must be a positive integer"):
        sweep_from_dict(_sweep(timing={"passes": passes}))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7", None])
def test_timing_seed_must_be_an_integer_of_at_least_zero(seed):
    from bench.config import Timing

    with pytest.raises(SweepError, match=r"timing\.seed must be an integer >= 0, got "):
        Timing(seed=seed)
    with pytest.raises(SweepError, match=r"timing\.seed must be an integer >= 0"):
        sweep_from_dict(_sweep(timing={"seed": seed}))


def test_timing_defaults_to_one_pass_seed_0_and_accepts_valid_values():
    from bench.config import Timing

    assert (Timing().passes, Timing().seed) == (1, 0)
    assert (Timing(passes=1, seed=0).passes, Timing(passes=5, seed=123).seed) == (1, 123)
    sweep = sweep_from_dict(_sweep(timing={"passes": 4, "seed": 9}))
    assert (sweep.timing.passes, sweep.timing.seed) == (4, 9)


def test_overrides_set_passes_and_seed_and_are_validated_like_the_file():
    data = _sweep(timing={"passes": 5, "seed": 3})
    changed = sweep_from_dict(Overrides(passes=2, seed=1).onto(data))
    assert (changed.timing.passes, changed.timing.seed) == (2, 1)
    assert data["timing"] == {"passes": 5, "seed": 3}  # the file's mapping itself is left alone
    kept = sweep_from_dict(Overrides(seq_len=[64]).onto(data))
    assert (kept.timing.passes, kept.timing.seed) == (5, 3)
    assert Overrides(passes=2, seed=0).given() == ["passes", "seed"]
    with pytest.raises(SweepError, match=r"timing\.passes must be a positive integer, got 0"):
        sweep_from_dict(Overrides(passes=0).onto(data))
    with pytest.raises(SweepError, match=r"timing\.seed must be an integer >= 0, got -2"):
        sweep_from_dict(Overrides(seed=-2).onto(data))


def test_expanded_configurations_carry_the_seed_and_are_pass_0():
    configs = sweep_from_dict(_sweep(timing={"passes": 3, "seed": 7})).expand(cuda_available=False)
    assert len(configs) == 6
    assert {(c.seed, c.pass_index) for c in configs} == {(7, 0)}
    default = sweep_from_dict(_sweep()).expand(cuda_available=False)
    assert {(c.seed, c.pass_index) for c in default} == {(0, 0)}


def test_compile_modes_multiply_the_configurations_and_cuda_graphs_run_only_on_cuda():
    data = _sweep(device=["cpu", "cuda"], compile=["eager", "inductor", "inductor-cudagraphs"])
    configs = sweep_from_dict(data).expand(cuda_available=True)
    settings = {(c.device, c.compile) for c in configs}
    assert settings == {("cpu", "eager"), ("cpu", "inductor"), ("cuda", "eager"), ("cuda", "inductor"),
                        ("cuda", "inductor-cudagraphs")}
    assert len(configs) == 5 * 6


def test_tf32_applies_to_cuda_float32_only_and_round_trips_through_to_dict():
    sweep = sweep_from_dict(_sweep(device=["cuda"], dtype=["float32", "bfloat16"], tf32=[False, True]))
    configs = sweep.expand(cuda_available=True)
    assert {(c.dtype, c.tf32) for c in configs} == {("float32", False), ("float32", True), ("bfloat16", False)}
    assert sweep_from_dict(sweep.to_dict()) == sweep


@pytest.mark.parametrize(("overrides", "message"), [
    ({"compile": ["inductor-cudagraphs"]}, "inductor-cudagraphs needs a CUDA device"),
    ({"compile": ["jit"]}, "compile must be one of eager, inductor, inductor-cudagraphs"),
    ({"tf32": [True]}, "tf32 true applies to float32 on CUDA only"),
    ({"tf32": ["on"]}, "tf32 must be a list of true/false"),
])
def test_compile_and_tf32_lists_of_which_nothing_applies_are_refused(overrides, message):
    with pytest.raises(SweepError, match=message):
        sweep_from_dict(_sweep(**overrides)).expand(cuda_available=False)


def test_compile_and_tf32_flags_override_the_file():
    data = Overrides(compile=["eager", "inductor"], tf32=[False]).onto(_sweep())
    assert sweep_from_dict(data).compile == ("eager", "inductor")


def test_cuda_only_settings_beside_others_are_left_out_on_the_cpu():
    sweep = sweep_from_dict(_sweep(compile=["eager", "inductor-cudagraphs"], tf32=[False, True]))
    configs = sweep.expand(cuda_available=False)
    assert {(c.compile, c.tf32) for c in configs} == {("eager", False)}
