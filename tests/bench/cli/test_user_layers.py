"""A user's own layer: from a project that has its own `models` and `bench` packages (the commonest names
in ML code), by dotted name or by file, with this tool's own packages neither shadowing nor shadowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.base import ModelError
from models.registry import get

LAYER = '''
from torch import nn

from models.helpers import identity  # the project's own sibling module


class LocalAttention(nn.Module):
    def __init__(self, d_model, n_heads, *, causal=False, window=128):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)
        self.window = window

    def forward(self, x, mask=None):
        return identity(self.proj(x))
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with its own models/ (a layer and a helper) and a bench/ that fails to import."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "helpers.py").write_text("def identity(x):\n    return x\n")
    (tmp_path / "models" / "my_attn.py").write_text(LAYER)
    (tmp_path / "models" / "linear.py").write_text(LAYER)  # the same name as one of this tool's layers
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__init__.py").write_text("raise RuntimeError('the project bench package')\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_projects_own_models_package_provides_its_layer_by_dotted_name_and_by_file(project):
    assert get("models.my_attn:LocalAttention").__name__ == "LocalAttention"
    assert get("models/my_attn.py:LocalAttention").__name__ == "LocalAttention"
    assert get("softmax").__module__ == "models.softmax"  # this tool's own layer is unaffected


def test_a_project_module_named_like_one_of_ours_is_refused_with_the_file_form(project):
    with pytest.raises(ModelError, match="models.linear is also a module of this tool.*models/linear.py:ClassName"):
        get("models.linear:LocalAttention")
    assert get("models/linear.py:LocalAttention").__name__ == "LocalAttention"


def test_a_missing_file_says_how_to_name_a_layer(project):
    with pytest.raises(ModelError, match="no such file.*path/to/file.py:ClassName"):
        get("nowhere/layer.py:Layer")


def test_from_such_a_project_the_command_line_runs_its_layer_and_the_built_in_ones(project):
    models = "models.my_attn:LocalAttention,models/my_attn.py:LocalAttention,softmax"
    done = subprocess.run([sys.executable, "-m", "run_bench", "run", "--models", models, "--seq-len", "16",
                           "--d-model", "8", "--heads", "1", "--device", "cpu", "--min-repeats", "1",
                           "--budget-s", "0.01", "--no-energy", "--no-report", "--out", "out"],
                          capture_output=True, text=True, timeout=300, cwd=project)
    assert done.returncode == 0, done.stderr
    from bench.results.store import ResultStore

    records = ResultStore(Path(project) / "out" / "results.jsonl").read().records
    assert sorted((r.config.model, r.status) for r in records) == [
        ("models.my_attn:LocalAttention", "ok"), ("models/my_attn.py:LocalAttention", "ok"), ("softmax", "ok")]


def test_run_help_documents_how_to_name_a_users_layer():
    from bench.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    assert "package.module:ClassName" in run.format_help() and "path/to/file.py:ClassName" in run.format_help()
