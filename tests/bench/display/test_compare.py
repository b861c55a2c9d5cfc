"""The comparison text: the machine's speed, one configuration per line, counts, the rule used, and the
forced warning."""

from __future__ import annotations

import re

from bench.analysis.compare import compare
from bench.display.compare import render_comparison
from tests.bench.analysis.test_compare import _sweep_run
from tests.fixtures.synthetic import Law, frame, record, sweep

SIZES = [128, 256, 512]


def _run(scale: float = 1.0, seed: int = 0, **kwargs) -> list:
    return (sweep("fastformer", Law(1e-4 * scale, 1e-7 * scale, 1.0), SIZES, seed=seed, **kwargs)
            + sweep("sdpa", Law(1e-4, 1e-9, 2.0), SIZES, seed=seed + 100, **kwargs))


def _table_lines(text: str) -> list[str]:
    """The table: from its header (the line starting with `variant`) to the blank line after it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("variant"))
    return lines[start:lines.index("", start)]


def test_the_comparison_is_a_text_table_with_counts():
    text = render_comparison(compare(frame(_run(seed=0)), frame(_run(seed=1, scale=2.0))))
    lines = _table_lines(text)
    assert lines[0].split() == ["variant", "causal", "device", "dtype", "mode", "B", "N", "d", "h", "median", "A",
                                "median", "B", "B/A", "p", "change", "B/A", "rel.", "vs", "machine"]
    fastformer = next(line for line in lines if line.startswith("fastformer") and " 128 " in line)
    assert re.search(r" (1\.9|2\.0)\d\d  +\S+  +slower  ", fastformer) and fastformer.split()[1] == "-"
    assert "6 configurations compared: 3 slower, 0 faster, 3 no clear change, 0 not tested" in text
    assert ("only in A: 0; only in B: 0; a change needs two-sided Mann-Whitney p < 0.01 on the raw samples and a "
            "ratio beyond the 5 % minimum effect (B/A above 1.05 or below 0.952; --min-effect)") in text
    assert "FORCED" not in text


def test_identical_runs_say_the_machine_kept_its_speed_and_show_no_relative_columns():
    text = render_comparison(compare(frame(_sweep_run(seed=0)), frame(_sweep_run(seed=1))))
    first = text.splitlines()[0]
    assert first.startswith("machine speed: B is 1.00x slower than A in the median over 24 configurations")
    assert first.endswith("within the 5 % minimum effect")
    assert "vs machine" not in text and "24 configurations compared: 0 slower, 0 faster, 24 no clear change (" in text
    assert "of them with p < 0.01 but within the 5 % minimum effect), 0 not tested" in text


def test_a_uniform_slowdown_reads_as_the_machines_speed():
    text = render_comparison(compare(frame(_sweep_run(seed=0)), frame(_sweep_run(seed=1, scale=1.2))))
    lines = text.splitlines()
    assert lines[0] == ("machine speed: B is 1.20x slower than A in the median over 24 configurations; ratios "
                        "below are also shown relative to that")
    assert lines[1].startswith("(B/A rel.: B/A divided by 1.2")
    assert "against the machine's speed (vs machine): 0 slower, 0 faster, 24 no clear change" in text
    faster = render_comparison(compare(frame(_sweep_run(seed=0)), frame(_sweep_run(seed=1, scale=0.8))))
    assert faster.startswith("machine speed: B is 1.25x faster than A in the median over 24 configurations;")


def test_causal_rows_scope_compile_and_tf32_are_told_apart():
    rows = [record("fastformer", [1.0, 1.1, 1.2]), record("fastformer", [2.0, 2.1, 2.2], causal=True),
            record("sdpa", [1.0, 1.1, 1.2], scope="block")]
    lines = _table_lines(render_comparison(compare(frame(rows), frame(rows))))
    assert lines[0].split()[:6] == ["variant", "causal", "device", "dtype", "mode", "scope"]
    assert [line.split()[1] for line in lines[1:]] == ["-", "causal", "-"]
    assert [line.split()[5] for line in lines[1:]] == ["attention", "attention", "block"]
    assert "compile" not in lines[0]
    cuda = [record("sdpa", [1.0, 1.1, 1.2], device="cuda", tf32=True, compile="inductor")]
    lines = _table_lines(render_comparison(compare(frame(cuda), frame(cuda))))
    assert lines[0].split()[5] == "compile" and lines[1].split()[3:6] == ["float32+tf32", "forward", "inductor"]


def test_untested_rows_forced_runs_few_configurations_and_warnings_are_said():
    a = frame([record("sdpa", [1.0, 1.1], device="cuda", device_name="NVIDIA H100 80GB HBM3")])
    b = frame([record("sdpa", [3.0, 3.1], device="cuda", device_name="NVIDIA A100-SXM4-80GB")])
    result = compare(a, b, force=True)
    result.warnings.append("something to know")
    text = render_comparison(result)
    lines = text.splitlines()
    assert lines[0] == ("machine speed: median B/A 2.905 over 1 configuration, too few (under 5) to tell the "
                        "machine's speed from the code's")
    assert _table_lines(text)[1].split()[-3:] == ["-", "not", "tested"]
    assert "FORCED: hardware differs between A and B; ratios mix machine and code effects" in lines
    assert lines[-1] == "warning: something to know"
    assert "(no minimum effect: --min-effect 0)" in render_comparison(compare(a, b, force=True, min_effect=0))
