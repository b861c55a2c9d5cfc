"""The gate as a whole stays quiet on run-to-run noise, gates every layer with every kind of check, and
refuses inputs it cannot compare.

Runs are synthetic (tests/fixtures/gate_data.py): known cost curves, a machine factor for the whole run
(a shared CI runner), per-configuration and per-pass drift and autocorrelated per-sample jitter with
spikes. The baseline pools three runs on CPU A; a gate checks two runs, as .ci/gate does.
"""

import dataclasses

import numpy as np
import pytest

from bench.display.gate import render_gate_report
from bench.gate import GateError, load_policy, make_baseline, run_gate
from bench.gate.checks import all_checks
from bench.gate.observed import prepare
from bench.results.identity import ConfigKey
from tests.fixtures.gate_data import CPU_A, MODELS, make_runs

# Synthetic false-alarm rate of the significance test alone (module docstring of bench.gate): share of
# speed checks on unchanged code with q < 0.01, over 20 baseline/run pairs; measured 0.5 % (6 of 1260).
MAX_TEST_ALARMS = 0.02


@pytest.mark.parametrize(("machine", "seeds"), [(0.8, (20, 21)), (1.2, (30, 31)), (1.2, (40, 41))])
def test_unchanged_code_passes_every_check_despite_a_20_percent_machine_swing(policy, baseline, machine, seeds):
    report = run_gate(make_runs(CPU_A, seeds=seeds, machine=machine), baseline, policy)
    assert report.passed, render_gate_report(report)
    for kind in ("status", "scaling", "crossover", "reference", "relative", "absolute", "shared"):
        assert any(c.kind == kind and c.status == "pass" for c in report.checks), kind
    assert not [c for c in report.checks if c.status in ("skipped", "warn")]


def test_every_model_of_the_synthetic_runs_is_gated(policy, baseline):
    report = run_gate(make_runs(CPU_A, seeds=(2, 3)), baseline, policy)
    subjects = {c.subject.split()[0] for c in report.checks if c.kind == "relative"}
    assert subjects == set(MODELS) - {"sdpa"}


def test_the_significance_test_alone_rarely_calls_unchanged_code_slower():
    """Tested on (run, pass) medians, not on autocorrelated pooled samples, whose rate was 12.8 %."""
    policy = load_policy()
    q_values = []
    for k in range(8):
        base = make_baseline(make_runs(CPU_A, seeds=(100 * k + 1, 100 * k + 2, 100 * k + 3), prefix="b"), policy)
        runs = make_runs(CPU_A, seeds=(100 * k + 50, 100 * k + 51), machine=(0.8, 1.2)[k % 2])
        q_values += [c.q_value for c in all_checks(prepare(runs, "sdpa", "run"), base, policy)
                     if c.q_value is not None]
    assert len(q_values) == 8 * (28 + 35)
    assert np.mean(np.asarray(q_values) < 0.01) <= MAX_TEST_ALARMS


def test_a_run_sharing_no_configuration_with_the_baseline_is_an_error(policy, baseline):
    other = make_runs(CPU_A)
    other["d_model"] = 128
    with pytest.raises(GateError, match="none of the baseline's 35 configurations appear in this run"):
        run_gate(other, baseline, policy)


def test_a_baseline_made_against_another_reference_is_an_error(policy, baseline):
    with pytest.raises(GateError, match="relative to 'sdpa' but the policy's reference is 'softmax'"):
        run_gate(make_runs(CPU_A), baseline, dataclasses.replace(policy, reference="softmax"))


def test_configurations_the_baseline_lacks_are_noted_not_compared(policy, baseline):
    report = run_gate(make_runs(CPU_A, seq_lens=(128, 256, 512, 1024, 2048, 4096, 8192, 16384)), baseline, policy)
    assert any("5 configuration(s) of this run are not in the baseline" in note for note in report.notes)
    assert not [c for c in report.checks if isinstance(c.key, ConfigKey) and c.key.seq_len == 16384]
