"""The report's Reproduce section: the command, and for a user's layer its PYTHONPATH, file and hash."""

from __future__ import annotations

from bench.display.context import ReportContext
from bench.display.sections.reproduce import import_root, render
from tests.fixtures.synthetic import standard_frame


def _ctx(df, tmp_path) -> ReportContext:
    return ReportContext.build(df, {}, run_id="r", command="python run_bench.py run quick", plots=[],
                               outdir=tmp_path)


def test_built_in_layers_give_the_command_alone(tmp_path):
    df = standard_frame()
    df["model_file"], df["model_sha256"] = None, None
    assert render(_ctx(df, tmp_path)) == "## Reproduce\n\n```\npython run_bench.py run quick\n```"


def test_a_users_layer_adds_the_pythonpath_that_finds_it_and_its_files_hash(tmp_path):
    df = standard_frame()
    df["model_file"], df["model_sha256"] = None, None
    user = df["model"] == "linear"
    df.loc[user, "model"] = "mylib.layers.local:Local"
    df.loc[user, "model_file"] = "/home/me/proj/mylib/layers/local.py"
    df.loc[user, "model_sha256"] = "ab" * 32
    text = render(_ctx(df, tmp_path))
    assert "PYTHONPATH=/home/me/proj python run_bench.py run quick" in text
    assert "| mylib.layers.local:Local | /home/me/proj/mylib/layers/local.py | " + "ab" * 32 + " |" in text


def test_the_import_root_is_the_folder_above_the_top_package():
    assert import_root("a.b:C", "/x/y/a/b.py") == "/x/y"
    assert import_root("a:C", "/x/y/a/__init__.py") == "/x/y"
    assert import_root("mod:C", "/x/mod.py") == "/x"
    assert import_root("path/to/file.py:C", "/x/path/to/file.py") is None
