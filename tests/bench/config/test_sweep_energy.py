"""The energy switch of a sweep's [timing]: on by default, off in the CI gate, set by --energy/--no-energy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import Overrides, SweepError, load_sweep, sweep_from_dict

GATE_SWEEP = Path(__file__).resolve().parents[3] / "ci" / "gate-sweep.toml"


def _sweep(**timing) -> dict:
    return {"name": "t", "base": {"seq_len": 64, "batch": 1, "d_model": 32, "n_heads": 4},
            "models": [{"name": "softmax"}], "device": ["cpu"], "timing": timing}


def test_sweeps_measure_energy_unless_timing_says_energy_false():
    assert all(c.energy for c in sweep_from_dict(_sweep()).expand(cuda_available=False))
    assert not any(c.energy for c in sweep_from_dict(_sweep(energy=False)).expand(cuda_available=False))


def test_the_energy_switch_round_trips_through_the_stored_sweep():
    sweep = sweep_from_dict(_sweep(energy=False))
    assert sweep.to_dict()["timing"]["energy"] is False
    assert sweep_from_dict(sweep.to_dict()) == sweep


def test_a_non_boolean_energy_is_refused_naming_the_field():
    with pytest.raises(SweepError, match="timing.energy must be true or false"):
        sweep_from_dict(_sweep(energy="yes"))


def test_the_flag_overrides_the_file():
    assert Overrides(energy=False).onto(_sweep(energy=True))["timing"]["energy"] is False
    assert Overrides().onto(_sweep(energy=False))["timing"]["energy"] is False


def test_the_ci_gate_never_pays_for_an_energy_window():
    assert not any(c.energy for c in load_sweep(GATE_SWEEP).expand(cuda_available=False))


def test_the_run_command_has_energy_and_no_energy_flags():
    import argparse

    from bench.cli import run

    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    for flags, expected in (([], None), (["--energy"], True), (["--no-energy"], False)):
        assert run._overrides(parser.parse_args(["run", "quick", *flags])).energy is expected
