"""The benchmark conftest's own logic, untimed: threads, model specs, malloc settings, timing marker."""

from __future__ import annotations

import pytest
import torch

import models
from bench.run.process import STEADY_MALLOC
from tests.benchmarks import conftest

CUSTOM = "tests.fixtures.custom_layer:TinyAttention"


@pytest.mark.parametrize(("environ", "expected"), [({}, 1), ({"ATTNBENCH_THREADS": ""}, 1),
                                                   ({"ATTNBENCH_THREADS": " 3 "}, 3)])
def test_threads_default_to_one_and_follow_the_variable(environ, expected):
    assert conftest.selected_threads(environ) == expected


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_count_is_a_usage_error_naming_the_fix(value):
    with pytest.raises(pytest.UsageError, match=r"ATTNBENCH_THREADS=.*whole number of threads >= 1"):
        conftest.selected_threads({"ATTNBENCH_THREADS": value})


def test_benchmarks_run_with_the_sessions_thread_count(request):
    assert torch.get_num_threads() == request.config.stash[conftest.SETTINGS_KEY].threads


def test_default_models_are_every_registered_one():
    chosen = conftest.selected_models(None, {})
    assert [c.label for c in chosen] == models.available()
    assert all(c.name == c.label and c.options == {} for c in chosen)


def test_models_variable_adds_own_layers_and_variants_in_the_models_syntax():
    text = f"{CUSTOM}, fastformer[share_qv=False,scorer=official],softmax"
    chosen = conftest.selected_models(None, {"ATTNBENCH_MODELS": text})
    assert [c.label for c in chosen] == [*models.available(), CUSTOM,
                                         "fastformer[scorer=official,share_qv=False]"]
    assert chosen[-2] == conftest.ModelChoice(CUSTOM, CUSTOM, {})
    assert chosen[-1].name == "fastformer" and chosen[-1].options == {"share_qv": False, "scorer": "official"}


def test_models_option_wins_over_the_variable():
    chosen = conftest.selected_models(CUSTOM, {"ATTNBENCH_MODELS": "no-such-model"})
    assert chosen[-1].label == CUSTOM


@pytest.mark.parametrize(("spec", "problem"), [
    ("no-such-model", "unknown model 'no-such-model'"),
    ("fastformer[share_qv=False", "options must be closed with ]"),
    ("fastformer[share_qv]", "must be name=value"),
    ("fastformer[bogus=1]", "has no option(s) bogus"),
    ("tests.fixtures.custom_layer:Missing", "no nn.Module subclass named 'Missing'"),
    ("no_such_package.mod:Layer", "cannot import module 'no_such_package.mod'"),
    ("[share_qv=False]", "has no name"),
])
def test_bad_model_spec_is_a_one_line_usage_error_naming_problem_and_fix(spec, problem):
    with pytest.raises(pytest.UsageError) as caught:
        conftest.selected_models(None, {"ATTNBENCH_MODELS": spec})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"ATTNBENCH_MODELS={spec!r}: ")
    assert problem in message
    assert "package.module:ClassName" in message and "run_bench.py run --models" in message


def test_bad_option_spec_names_the_option():
    with pytest.raises(pytest.UsageError, match=r"^--attnbench-models='nope': unknown model"):
        conftest.selected_models("nope", {})


class FakeMallopt:
    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.result


def test_steady_malloc_sets_the_workers_thresholds_with_mallopt():
    fake = FakeMallopt()
    assert conftest.apply_steady_malloc({}, fake) == "steady"
    assert sorted(fake.calls) == sorted((conftest.MALLOPT_PARAMS[key], int(value))
                                        for key, value in STEADY_MALLOC.items())
    assert (-3, 32 * 1024 * 1024) in fake.calls and (-1, 1 << 30) in fake.calls


def test_users_malloc_variables_win():
    fake = FakeMallopt()
    assert conftest.apply_steady_malloc(dict.fromkeys(STEADY_MALLOC, "0"), fake) == "user"
    assert fake.calls == []
    assert conftest.apply_steady_malloc({"MALLOC_MMAP_THRESHOLD_": "0"}, fake) == "steady+user"
    assert fake.calls == [(-1, 1 << 30)]


def test_refused_mallopt_reports_default():
    assert conftest.apply_steady_malloc({}, FakeMallopt(result=0)) == "default"


def test_mallopt_lookup_does_not_crash():
    mallopt = conftest.find_mallopt()
    assert mallopt is None or callable(mallopt)


def test_timing_marker_keeps_gc_off_and_times_longer_unless_told(request):
    settings = conftest.timing_settings(request.config)
    assert settings["disable_gc"] is True
    if float(request.config.getoption("benchmark_max_time")) == conftest.PLUGIN_MAX_TIME_S:
        assert settings["max_time"] == conftest.MAX_TIME_S
    else:
        assert "max_time" not in settings


def test_machine_info_records_threads_and_malloc(request):
    info: dict = {}
    conftest.pytest_benchmark_update_machine_info(request.config, info)
    settings = request.config.stash[conftest.SETTINGS_KEY]
    assert info["torch_threads"] == settings.threads
    assert info["attnbench_malloc"] == settings.malloc
    assert info["attnbench_device"] in ("cpu", "cuda")
