"""The gate's test-only regressions really cost more while computing the same function."""

import pytest
import torch

from bench.flops import count_flops
from tests.gate_models import TunableFastformer


def _build(monkeypatch, regression: str) -> TunableFastformer:
    monkeypatch.setenv("ATTNBENCH_TEST_REGRESSION", regression)
    torch.manual_seed(0)
    return TunableFastformer(32, 4).eval()


@pytest.mark.parametrize("regression", ["work30", "quadratic"])
def test_regressed_layers_compute_the_same_output_with_more_work(monkeypatch, regression):
    x = torch.randn(2, 64, 32)
    plain, slowed = _build(monkeypatch, ""), _build(monkeypatch, regression)
    with torch.no_grad():
        torch.testing.assert_close(slowed(x), plain(x))
    plain_flops = count_flops(lambda: plain(x))
    slowed_flops = count_flops(lambda: slowed(x))
    if regression == "work30":
        assert 1.25 < slowed_flops / plain_flops < 1.4
    else:
        assert slowed_flops - plain_flops == 4 * 2 * 64 * 64 * 32


def test_unknown_regression_names_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="ATTNBENCH_TEST_REGRESSION"):
        _build(monkeypatch, "slower")
