"""bench.config.executor_settings: the [executor] table and the flags that override it."""

from __future__ import annotations

import pytest

from bench.config import SweepError, sweep_from_dict
from bench.config.executor_settings import ExecutorSettings, ExecutorSettingsError

SWEEP = {"name": "s", "base": {"seq_len": 64, "batch": 1, "d_model": 16, "n_heads": 2}, "models": ["softmax"]}


def test_a_sweep_runs_locally_one_configuration_at_a_time_unless_it_says_otherwise():
    settings = sweep_from_dict(SWEEP).executor
    assert settings == ExecutorSettings() and settings.name == "local" and settings.placement == "exclusive"
    assert "executor" not in sweep_from_dict(SWEEP).to_dict()


def test_an_executor_table_round_trips_through_the_recorded_sweep():
    table = {"name": "slurm", "placement": "packed", "per_device": 2, "slurm_partition": "gpu",
             "slurm_array_parallelism": 4, "slurm_exclusive": False}
    sweep = sweep_from_dict({**SWEEP, "executor": table})
    assert sweep.executor == ExecutorSettings(**table)
    assert sweep_from_dict(sweep.to_dict()) == sweep


@pytest.mark.parametrize("table, message", [
    ({"name": "dask"}, "executor.name must be one of local, ray, slurm"),
    ({"placement": "shared"}, "executor.placement must be one of exclusive, packed"),
    ({"slurm_cluster": "pbs"}, "executor.slurm_cluster must be one of slurm, local, debug"),
    ({"per_device": 0, "placement": "packed"}, "executor.per_device must be a positive integer"),
    ({"retries": True}, "executor.retries must be an integer >= 0"),
    ({"slurm_time_min": 1.5}, "executor.slurm_time_min must be a positive integer"),
    ({"slurm_exclusive": "yes"}, "executor.slurm_exclusive must be true or false"),
    ({"per_device": 2}, "placement exclusive does not"),
    ({"name": "ray", "devices": "all"}, "executor.devices applies to the local executor"),
    ({"devices": ""}, "executor.devices must be a non-empty string"),
    ({"gpus": 2}, "unknown \\[executor\\] key\\(s\\) gpus; valid keys: name, devices"),
])
def test_a_bad_executor_value_names_the_field_and_what_is_valid(table, message):
    with pytest.raises(SweepError, match=message):
        sweep_from_dict({**SWEEP, "executor": table})


def test_an_executor_that_is_not_a_table_is_refused():
    with pytest.raises(SweepError, match=r"\[executor\] must be a table"):
        sweep_from_dict({**SWEEP, "executor": "ray"})


def test_flags_that_were_given_override_the_table_and_the_rest_is_kept():
    settings = ExecutorSettings(name="ray", retries=5)
    assert settings.with_flags(name=None, retries=None) is settings
    assert settings.with_flags(retries=1, ray_address="auto") == ExecutorSettings(name="ray", retries=1,
                                                                                  ray_address="auto")
    with pytest.raises(ExecutorSettingsError, match="executor.retries"):
        settings.with_flags(retries=-1)
