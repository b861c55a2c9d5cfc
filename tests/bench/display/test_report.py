"""Report: every section rendered from measured data, failures and predictions labelled, plots linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.analysis.scaling import scaling_table
from bench.display.report import render_report, write_report
from tests.fixtures.synthetic import standard_frame

SECTIONS = ("# attnbench report: run r42", "## Claims check", "## Scaling", "### Time vs sequence length",
            "### Peak memory vs sequence length", "### Time vs batch", "### Time vs model width",
            "## Crossovers", "### Against sdpa", "### Against softmax", "## Largest sequence length that fit",
            "## Achieved FLOP/s", "## Results", "## Failures and skipped configurations", "## Environment",
            "## Reproduce")
ENVIRONMENTS = {"abc123": {"torch_version": "2.13.0", "cuda_version": None, "cpu_model": "Synthetic CPU",
                           "torch_threads": 2, "git_commit": "deadbeef", "git_dirty": True,
                           "packages": {"numpy": "2.4.6", "pandas": "3.1.1"}}}
COMMAND = "python run_bench.py run --preset smoke --out results/r42.jsonl"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    outdir = tmp_path_factory.mktemp("report")
    path = write_report(standard_frame(), ENVIRONMENTS, outdir, run_id="r42", command=COMMAND)
    return path, path.read_text()


def test_report_is_written_with_every_section_in_order(report):
    path, text = report
    assert path.name == "report.md"
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)


def test_summary_states_the_computed_verdicts_and_crossovers(report):
    summary = report[1].split("## Claims check")[0]
    assert "42 configurations of 6 variants" in summary
    assert re.search(r"In float32, eager PyTorch, cpu: Synthetic CPU, time grows with sequence length linearly for "
                     r"fastformer \(slope 0\.\d\d \[0\.\d\d, 0\.\d\d\] over N=256-4096\)", summary)
    assert "quadratically for sdpa" in summary
    assert "Against sdpa in float32, eager PyTorch, cpu: Synthetic CPU, these become faster: fastformer forward from " \
           "N=1024 (slower at 512)" in summary
    assert "published claim checks" in summary


def test_plots_are_embedded_with_relative_links_that_exist(report):
    path, text = report
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 6
    for link in links:
        assert not Path(link).is_absolute() and (path.parent / link).is_file()


def test_failures_list_errors_and_label_predictions(report):
    failures = report[1].split("## Failures and skipped configurations")[1].split("## Environment")[0]
    assert "| oom | softmax |" in failures and "OutOfMemoryError: tried to allocate 64.00 GiB" in failures
    assert "| error | performer |" in failures and "RuntimeError: shape mismatch" in failures
    assert "Traceback tail" not in failures  # first line only
    assert "(prediction, not measured: time" in failures and "931 GiB" in failures


def test_predictions_appear_only_in_the_failures_section(report):
    text = report[1]
    assert text.count("931 GiB") == 1


def test_claims_scaling_and_environment_carry_numbers(report):
    text = report[1]
    assert "9.3x-46x at N=128, 256, 512" in text and "**different configuration**" in text
    assert "Verdict: **linear** when the whole interval lies inside (0.7, 1.3)" in text
    assert "| (512, 1024] |" in text
    assert "| 2048 (B=2) | 8192 (B=2, oom:" in text
    assert "unknown peak" in text
    assert "| git_commit | deadbeef |" in text and "| git_dirty | True |" in text
    assert "numpy 2.4.6, pandas 3.1.1" in text
    assert f"```\n{COMMAND}\n```" in text


def test_no_missing_value_is_printed_as_nan(report):
    assert "nan" not in report[1].lower().replace("nanosecond", "")


def test_empty_results_render_without_crashing(tmp_path):
    text = render_report(standard_frame().iloc[0:0], {}, run_id="empty", command="x", plots=[],
                         outdir=tmp_path)
    assert "This run holds no results." in text and "No environment fingerprint was recorded." in text
    assert "## Reproduce" in text


def test_a_given_time_scaling_table_is_the_one_reported(tmp_path):
    df = standard_frame()
    given = scaling_table(df, "seq_len", "median_s")
    given.loc[given["variant"] == "sdpa", "expected"] = "as given"
    path = write_report(df, {}, tmp_path, run_id="r", command="c", time_scaling=given)
    time_section = path.read_text().split("### Time vs sequence length")[1].split("###")[0]
    assert "| **quadratic** | as given |" in time_section


def test_the_expected_column_shows_each_layers_declared_class(report):
    time_section = report[1].split("### Time vs sequence length")[1].split("###")[0]
    assert re.search(r"\| sdpa \|.*\| \*\*quadratic\*\* \| quadratic \|", time_section)
    assert re.search(r"\| fastformer \|.*\| \*\*linear\*\* \| linear \|", time_section)
    memory_section = report[1].split("### Peak memory vs sequence length")[1].split("###")[0]
    assert re.search(r"\| sdpa \|.*\| \*\*linear\*\* \| - \|", memory_section)  # sdpa declares no memory class


def test_environment_values_are_escaped_once(tmp_path):
    text = render_report(standard_frame().iloc[0:0], {"env0": {"os": "Linux | x86"}}, run_id="e", command="x",
                         plots=[], outdir=tmp_path)
    assert "| os | Linux \\| x86 |" in text


def test_every_embedded_plot_links_its_pdf(report):
    path, text = report
    pngs = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\) \(\[PDF\]\(([^)]+\.pdf)\)\)", text)
    assert len(pngs) == len(re.findall(r"!\[", text)) >= 6
    for png, pdf in pngs:
        assert pdf == png[:-4] + ".pdf" and (path.parent / pdf).is_file()
