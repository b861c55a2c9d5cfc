"""The policy says what counts as a regression: bounds come from the layer's declared complexity class
unless an entry for the variant or model says otherwise, and a typo is an error, never a silent pass."""

import dataclasses
import json
from pathlib import Path

import pytest

from bench.gate import DEFAULT_POLICY_PATH, GateError, SpeedRule, load_policy, policy_from_dict, run_gate
from tests.fixtures.gate_data import CPU_B, make_runs

ROOT = Path(__file__).resolve().parents[3]
GATE_PROOF_POLICY = ROOT / "scripts" / "gate_proof" / "policy.toml"
CI_POLICY = ROOT / "ci" / "gate-policy.toml"


def test_the_default_policy_bounds_layers_by_their_complexity_class_and_checks_the_fastformer_crossover():
    policy = load_policy()
    assert DEFAULT_POLICY_PATH.name == "gate_policy.toml"
    assert policy.complexity == {"linear": {"time_exponent_max": 1.2, "memory_exponent_max": 1.2},
                                 "quadratic": {"time_exponent_max": 3.0, "memory_exponent_max": 3.0}}
    for model in ("fastformer", "linear", "performer", "linformer"):
        assert model not in policy.models
        rule = policy.rule_for(model, model, time_class="linear", memory_class="linear")
        assert rule.time_exponent_max == 1.2 and rule.memory_exponent_max == 1.2
    softmax = policy.rule_for("softmax", "softmax", time_class="quadratic", memory_class="quadratic")
    assert softmax.time_exponent_max == 3.0 and softmax.memory_exponent_max == 3.0
    # sdpa declares no memory class (it depends on the kernel); its own entry keeps it bounded.
    sdpa = policy.rule_for("sdpa", "sdpa", time_class="quadratic", memory_class=None)
    assert sdpa.time_exponent_max == 3.0 and sdpa.memory_exponent_max == 3.0
    assert policy.relative == SpeedRule(threshold=0.25, floor_s=2e-5, alpha=0.01)
    assert policy.absolute == SpeedRule(threshold=0.4, floor_s=2e-5, alpha=0.01)
    assert (policy.max_exponent_increase, policy.reference_move, policy.shared_threshold,
            policy.other_hardware) == (0.1, 0.15, 0.3, "fail")
    assert [(r.variant, r.reference) for r in policy.crossovers] == [("fastformer", "softmax")]


def test_the_ci_policy_is_the_default_except_that_the_shared_check_only_reports_on_other_hardware():
    default, ci = load_policy(), load_policy(CI_POLICY)
    assert ci.other_hardware == "report"
    assert dataclasses.replace(ci, other_hardware="fail") == default


def test_every_model_name_in_a_policy_must_be_known():
    policy = policy_from_dict({"models": {"fastformr": {"time_exponent_max": 1.2},
                                          "linear[chunk_size=64]": {"time_exponent_max": 1.2}}})
    known = {"sdpa", "fastformer", "linear", "softmax"}
    with pytest.raises(GateError, match="unknown model 'fastformr' in \\[models.fastformr\\] \\(did you mean "
                                        "'fastformer'\\?\\); valid names: fastformer, linear, sdpa, softmax"):
        policy.check_names(known, "p.toml")
    policy_from_dict({"models": {"linear[chunk_size=64]": {}}}).check_names(known)  # a variant of a known model
    with pytest.raises(GateError, match="unknown model 'sdpaa' in crossovers\\[0\\].reference"):
        policy_from_dict({"crossovers": [{"variant": "fastformer", "reference": "sdpaa", "max_factor": 2}]}
                         ).check_names(known)


def test_a_bound_comes_from_the_exact_variant_then_the_model_then_the_complexity_class_then_none():
    policy = policy_from_dict({
        "complexity": {"linear": {"time_exponent_max": 1.2, "memory_exponent_max": 1.3}},
        "models": {"linear": {"time_exponent_max": 1.5},
                   "linear[chunk_size=128]": {"time_exponent_max": 1.7, "relative": {"threshold": 0.6}}},
    })
    exact = policy.rule_for("linear[chunk_size=128]", "linear", time_class="linear", memory_class="linear")
    assert (exact.time_exponent_max, exact.memory_exponent_max) == (1.7, 1.3)
    assert exact.relative.threshold == 0.6
    plain = policy.rule_for("linear", "linear", time_class="linear", memory_class="linear")
    assert (plain.time_exponent_max, plain.memory_exponent_max) == (1.5, 1.3)
    assert plain.relative.threshold == 0.25
    other = policy.rule_for("performer", "performer", time_class="linear", memory_class="linear")
    assert (other.time_exponent_max, other.memory_exponent_max) == (1.2, 1.3)
    undeclared = policy.rule_for("performer", "performer", time_class=None, memory_class="cubic")
    assert (undeclared.time_exponent_max, undeclared.memory_exponent_max) == (None, None)


def test_a_per_model_override_loosens_only_that_model(policy, baseline):
    data = {"models": {"linear": {"relative": {"threshold": 0.6}}}}
    loose = dataclasses.replace(policy, models=policy_from_dict(data).models)
    report = run_gate(make_runs(CPU_B, seeds=(5, 6), slowdown={"linear": 1.3}), baseline, loose)
    assert not [c for c in report.failures if c.kind == "relative"]
    assert loose.rule_for("linear", "linear").relative.threshold == 0.6
    assert loose.rule_for("fastformer", "fastformer").relative.threshold == 0.25


@pytest.mark.parametrize(("data", "message"), [
    ({"relativ": {}}, "unknown key\\(s\\) relativ in the top level"),
    ({"relative": {"threshold": "25%"}}, "relative.threshold must be a number"),
    ({"models": {"linear": {"time_exponent": 1.2}}}, "unknown key\\(s\\) time_exponent in \\[models.linear\\]"),
    ({"complexity": {"linear": {"time_max": 1.2}}}, "unknown key\\(s\\) time_max in \\[complexity.linear\\]"),
    ({"complexity": {"linear": {"time_exponent_max": 0}}}, "complexity.linear.time_exponent_max must be a number"),
    ({"complexity": ["linear"]}, "\\[complexity\\] must be a table of \\[complexity.<name>\\] tables"),
    ({"crossovers": [{"variant": "fastformer", "reference": "softmax"}]}, "needs max_factor and/or max_seq_len"),
    ({"schema": 2}, "schema 2 is not supported"),
    ({"shared": {"other_hardware": "warn"}}, "shared.other_hardware must be one of 'fail', 'report'"),
    ({"moving_reference": {"treshold": 0.1}}, "unknown key\\(s\\) treshold in \\[moving_reference\\]"),
    ({"scaling": {"max_increase": -0.1}}, "scaling.max_increase must be a number > 0"),
])
def test_a_policy_typo_is_an_error_naming_the_key(data, message):
    with pytest.raises(GateError, match=message):
        policy_from_dict(data, "test.toml")


def test_a_json_policy_file_is_accepted_and_a_missing_one_is_an_error(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"reference": "softmax", "models": {"linear": {"time_exponent_max": 1.1}}}))
    assert load_policy(path).reference == "softmax"
    with pytest.raises(GateError, match="no gate policy at"):
        load_policy(tmp_path / "absent.toml")


def test_the_gate_proof_policy_puts_its_test_only_layers_in_the_roles_of_the_real_ones():
    policy = load_policy(GATE_PROOF_POLICY)
    name = "tests.fixtures.gate_models:Tunable{}".format
    rule = policy.rule_for(name("Fastformer"), name("Fastformer"))
    assert rule.time_exponent_max == 1.2 and rule.memory_exponent_max == 1.2
    assert policy.reference == name("SDPA")
    assert [(r.variant, r.reference) for r in policy.crossovers] == [(name("Fastformer"), name("Softmax"))]
    assert dataclasses.replace(policy, reference="sdpa", models={}, crossovers=()) == dataclasses.replace(
        load_policy(), models={}, crossovers=(), complexity={})  # otherwise the default policy
