"""bench/'s layers import only the layers below them, and the torch-free ones stay torch-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# Each layer and the layers it may import (display shows the gate's report and the self-check's data).
BELOW = {
    "config": set(),
    "results": {"config"},
    "measure": {"config", "results"},
    "run": {"config", "results", "measure"},
    "analysis": {"config", "results"},
    "gate": {"config", "results", "analysis"},
    "display": {"config", "results", "measure", "analysis", "gate"},
    "cli": {"config", "results", "measure", "run", "analysis", "gate", "display"},
}


def _imported_layers(path: Path) -> set[str]:
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        layers.update(name.split(".")[1] for name in names if name.startswith("bench.") and name.count("."))
    return layers


def test_every_layer_is_a_package_listed_here():
    assert {p.name for p in BENCH.iterdir() if (p / "__init__.py").exists()} == set(BELOW)


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_only_the_layers_below_it(layer):
    for path in (BENCH / layer).rglob("*.py"):
        above = _imported_layers(path) - BELOW[layer] - {layer}
        assert not above, f"{path.relative_to(BENCH.parent)} imports bench.{', bench.'.join(sorted(above))}"


NO_TORCH = ("bench.results.table", "bench.results.store", "bench.analysis.scaling", "bench.analysis.claims",
            "bench.analysis.compare", "bench.gate", "bench.cli.gate", "bench.display.report", "bench.display.summary",
            "bench.display.compare", "bench.display.selfcheck", "bench.display.gate")


@pytest.mark.parametrize("module", NO_TORCH)
def test_the_gate_the_results_analysis_and_display_import_no_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
