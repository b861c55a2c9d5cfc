"""The section registry: every section registered in order, and a section registered elsewhere shows up."""

from __future__ import annotations

import pytest

import bench.display.sections as sections
from bench.display.context import ReportContext
from bench.display.report import render_report
from bench.display.sections import registered, section
from tests.fixtures.synthetic import standard_frame

NAMES = ["summary", "claims", "scaling", "crossovers", "largest", "flops", "flop_counts", "energy", "results",
         "failures", "placement", "environment", "reproduce"]
ENVIRONMENTS = {"env0": {"cpu_model": "Synthetic CPU", "torch_version": "2.13.0"}}


@pytest.fixture(scope="module")
def df():
    return standard_frame()


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry that the test may add to; the real one is restored afterwards."""
    monkeypatch.setattr(sections, "_REGISTRY", list(sections._REGISTRY))


def _render(df, tmp_path) -> str:
    return render_report(df, ENVIRONMENTS, run_id="r1", command="python run_bench.py run quick", plots=[],
                         outdir=tmp_path)


def test_the_report_sections_are_registered_in_order():
    found = registered()
    assert [s.name for s in found] == NAMES
    assert [s.order for s in found] == sorted(s.order for s in found)


def test_the_report_is_the_title_then_every_registered_section_in_order(df, tmp_path):
    ctx = ReportContext.build(df, ENVIRONMENTS, run_id="r1", command="python run_bench.py run quick", plots=[],
                              outdir=tmp_path)
    expected = "\n\n".join(["# attnbench report: run r1", *(s.render(ctx) for s in registered())]) + "\n"
    assert _render(df, tmp_path) == expected


def test_a_section_registered_by_another_module_appears_at_its_place(df, tmp_path, registry):
    @section(order=55)
    def render(ctx: ReportContext) -> str:
        return f"## Extra\n\n{len(ctx.df)} rows, {len(ctx.claims)} claim checks"

    assert "test_sections" in [s.name for s in registered()]
    text = _render(df, tmp_path)
    assert "## Extra\n\n42 rows" in text
    assert text.index("## Largest sequence length that fit") < text.index("## Extra") < text.index(
        "## Achieved FLOP/s")


def test_two_sections_cannot_share_a_place(registry):
    with pytest.raises(ValueError, match="order 30 .* is taken by scaling"):
        section(order=30)(lambda ctx: "")
