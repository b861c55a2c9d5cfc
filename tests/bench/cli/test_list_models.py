"""`run_bench.py list-models`: every registered layer with its options."""

from __future__ import annotations

import models
from tests.bench.cli.conftest import cli


def test_list_models_shows_every_model_with_its_options():
    done = cli("list-models")
    assert done.returncode == 0
    for name in models.available():
        assert f"{name}: " in done.stdout
    assert "scorer = 'paper'" in done.stdout
