"""scripts/roofline.py at tiny sizes: every layer gets a row, fractions are finite, best forms are exact."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import models

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "roofline.py"
spec = importlib.util.spec_from_file_location("roofline", SCRIPT)
roofline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(roofline)


def test_the_report_has_a_row_per_layer_and_length_with_a_finite_positive_fraction(tmp_path):
    out = tmp_path / "roofline.md"
    assert roofline.main(["--out", str(out), "--models", "fastformer,softmax,linformer[k=4,max_len=64]",
                          "--seq-len", "32,64", "--d-model", "16", "--heads", "2", "--rounds", "1",
                          "--budget-s", "0.005"]) == 0
    rows = [line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    body = rows[1:]
    assert [(r[0].lstrip("| "), r[1]) for r in body] == [
        ("fastformer", "32"), ("fastformer", "64"), ("softmax", "32"), ("softmax", "64"),
        ("linformer[k=4,max_len=64]", "32"), ("linformer[k=4,max_len=64]", "64")]
    fractions = [float(r[4].rstrip(" %")) for r in body]
    assert all(f > 0 for f in fractions)
    assert all(float(r[6]) > 0 for r in body if r[0].lstrip("| ") != "fastformer")


@pytest.mark.parametrize(("name", "options"), [("softmax", {}), ("sdpa", {}), ("linear", {}),
                                               ("linformer", {"k": 5, "max_len": 40})])
def test_each_best_form_gives_its_layers_output(name, options):
    torch.manual_seed(0)
    layer = models.build(name, 16, 2, **options).eval()
    x = torch.randn(1, 37, 16)
    with torch.no_grad():
        torch.testing.assert_close(roofline.BEST_FORMS[name](layer, x), layer(x), rtol=1e-4, atol=1e-5)


def test_a_quadratic_layer_too_large_for_memory_is_skipped_with_the_reason():
    rows, _ = roofline.measure(["softmax"], [20000], 16, 16, rounds=1, budget_s=0.001)
    assert rows[0]["times"] == [] and "N x N scores need" in rows[0]["note"]


@pytest.mark.parametrize(("args", "words"), [(["--models", "nosuch"], "unknown model"),
                                             (["--rounds", "0"], "at least 1")])
def test_bad_arguments_exit_2_with_one_line(args, words, capsys):
    assert roofline.main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
