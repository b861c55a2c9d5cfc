"""The comparison text: one configuration per line, counts, the test used, and the forced warning."""

from __future__ import annotations

from bench.analysis.compare import compare
from bench.display.compare import render_comparison
from tests.fixtures.synthetic import Law, frame, record, sweep

SIZES = [128, 256, 512]


def _run(scale: float = 1.0, seed: int = 0, **kwargs) -> list:
    return (sweep("fastformer", Law(1e-4 * scale, 1e-7 * scale, 1.0), SIZES, seed=seed, **kwargs)
            + sweep("sdpa", Law(1e-4, 1e-9, 2.0), SIZES, seed=seed + 100, **kwargs))


def test_the_comparison_is_a_text_table_with_counts():
    text = render_comparison(compare(frame(_run(seed=0)), frame(_run(seed=1, scale=2.0))))
    lines = text.splitlines()
    assert lines[0].split() == ["variant", "device", "dtype", "mode", "B", "N", "d", "h", "median", "A", "median",
                                "B", "B/A", "p", "change"]
    fastformer = next(line for line in lines if line.startswith("fastformer") and " 128 " in line)
    assert fastformer.split()[-1] == "slower" and "2.0" in fastformer
    assert "6 configurations compared: 3 slower, 0 faster, 3 no clear change, 0 not tested" in text
    assert "only in A: 0; only in B: 0; a change needs two-sided Mann-Whitney p < 0.01" in text
    assert "FORCED" not in text


def test_untested_rows_forced_runs_and_warnings_are_said():
    a = frame([record("sdpa", [1.0, 1.1], device="cuda", device_name="NVIDIA H100 80GB HBM3")])
    b = frame([record("sdpa", [3.0, 3.1], device="cuda", device_name="NVIDIA A100-SXM4-80GB")])
    result = compare(a, b, force=True)
    result.warnings.append("something to know")
    lines = render_comparison(result).splitlines()
    assert lines[1].split()[-3:] == ["-", "not", "tested"]
    assert "FORCED: hardware differs between A and B; ratios mix machine and code effects" in lines
    assert lines[-1] == "warning: something to know"
