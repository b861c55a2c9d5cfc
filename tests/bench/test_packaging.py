"""Packaging: every package the code imports at run time is declared, test-only tools are in the test
extra, and the `attnbench` console script runs the same commands as run_bench.py."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from bench.config.toml import loads

REPO = Path(__file__).resolve().parents[2]
# Import names whose distribution is named otherwise.
DISTRIBUTION = {"pynvml": "nvidia-ml-py", "yaml": "pyyaml"}
OWN = {"bench", "models", "run_bench"}


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = loads((REPO / "pyproject.toml").read_text())["project"]
    name = re.compile(r"[A-Za-z0-9_.-]+")
    runtime = {name.match(d).group().lower() for d in project["dependencies"]}
    extras = {k: {name.match(d).group().lower() for d in v} for k, v in project["optional-dependencies"].items()}
    return runtime, extras


def _imports(paths: list[Path]) -> set[str]:
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in OWN}


def test_every_runtime_import_is_a_declared_dependency():
    runtime, extras = _declared()
    code = [*REPO.glob("bench/**/*.py"), *REPO.glob("models/**/*.py"), REPO / "run_bench.py"]
    optional = {"ray": "ray", "submitit": "slurm", "tomli": None}  # the executors' extras; tomli below 3.11
    for module in sorted(_imports(code)):
        dist = DISTRIBUTION.get(module, module).lower()
        if module in optional and optional[module] is not None:
            assert dist in extras[optional[module]], f"{module} is not in the [{optional[module]}] extra"
        else:
            assert dist in runtime, f"bench/models import {module}, which pyproject.toml does not declare"


def test_test_only_tools_are_in_the_test_extra_not_the_runtime_dependencies():
    runtime, extras = _declared()
    assert "pytest-benchmark" in extras["test"] and "pytest-benchmark" not in runtime
    assert "pytest" in extras["test"]
    assert "pytest_benchmark" not in _imports([*REPO.glob("bench/**/*.py"), *REPO.glob("models/**/*.py")])


def test_the_attnbench_console_script_is_the_same_command_line():
    scripts = loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"attnbench": "bench.cli:main"}
    script = Path(sys.executable).with_name("attnbench")
    if script.exists():  # installed (pip install -e .): the script itself answers
        done = subprocess.run([str(script), "list-models"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "fastformer" in done.stdout
        usage = subprocess.run([str(script), "run", "--bogus"], capture_output=True, text=True, timeout=120)
        assert usage.returncode == 2 and "attnbench: error: unrecognized arguments: --bogus" in usage.stderr
