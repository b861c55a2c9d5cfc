"""Poolingformer: equal to its two-level rule in float64, pooling that ignores padding and empty slots,
O(N window) memory and exact FLOPs counting both levels' projections.

The reference is written here from the rule, one query row and one slot at a time, in float64; it
shares no code with the chunked layout of models/poolingformer.py.
"""

from __future__ import annotations

import math

import pytest
import torch

import models
from bench.measure.flops import count_flops
from models import ModelError
from tests.models.reference import LargestTensor, output_changes, padding_mask, rel_err

# (batch, seq, d_model, heads, window, pool_window, pool_size, stride)
CASES = [
    (2, 37, 16, 2, 3, 9, 5, 4),     # the paper's pool_size 5 / stride 4 shape, N odd
    (3, 23, 12, 3, 2, 6, 3, 3),     # pool_size = stride; padding_mask pads the whole last row
    (2, 30, 8, 1, 4, 12, 2, 4),     # pool_size < stride: some tokens are in no slot
    (1, 9, 16, 4, 20, 40, 5, 4),    # both windows cover the sequence
    (2, 1, 8, 2, 1, 1, 1, 1),       # length 1
    (2, 50, 16, 2, 1, 2, 7, 2),     # overlapping slots wider than the second window
    (1, 20, 8, 2, 2, 1, 3, 4),      # pool_window < stride: some queries see no slot
]


def _build(d: int, h: int, *, window: int = 64, pool_window: int = 256, pool_size: int = 5, stride: int = 4,
           seed: int = 0, dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("poolingformer", d, h, window=window, pool_window=pool_window, pool_size=pool_size,
                        stride=stride).to(dtype).eval()


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, seen: list[int], h: int) -> torch.Tensor:
    """One query row (d,) over the rows `seen` of k and v, head by head, in float64; zeros if none."""
    d = q.shape[0]
    dh = d // h
    out = torch.zeros(d, dtype=torch.float64)
    if not seen:
        return out
    for head in range(h):
        cols = slice(head * dh, (head + 1) * dh)
        scores = k[seen, cols] @ q[cols] / math.sqrt(dh)
        weights = torch.exp(scores - scores.max())
        out[cols] = (weights / weights.sum()) @ v[seen, cols]
    return out


def reference(x: torch.Tensor, model: models.Attention, mask: torch.Tensor | None) -> torch.Tensor:
    """Poolingformer from its rule in float64 (see the class docstring)."""
    w = {name: t.detach().double() for name, t in model.state_dict().items()}

    def linear(name: str, t: torch.Tensor) -> torch.Tensor:
        return t @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    x = x.double()
    batch, n, d = x.shape
    h, window, pool_window, pool_size, stride = model.n_heads, model.window, model.pool_window, model.pool_size, \
        model.stride
    kept = torch.ones(batch, n, dtype=torch.bool) if mask is None else mask
    out = torch.zeros(batch, n, d, dtype=torch.float64)
    for b in range(batch):
        q, k, v = linear("to_q", x[b]), linear("to_k", x[b]), linear("to_v", x[b])
        y = torch.zeros(n, d, dtype=torch.float64)
        for i in range(n):
            if kept[b, i]:
                y[i] = _attend(q[i], k, v, [j for j in range(n) if kept[b, j] and abs(i - j) <= window], h)
        starts, means = [], []
        for p in range(-(-n // stride)):
            members = [t for t in range(p * stride, min(p * stride + pool_size, n)) if kept[b, t]]
            if members:
                starts.append(p * stride)
                means.append(x[b, members].mean(0))
        k2 = linear("to_k2", torch.stack(means)) if means else torch.zeros(0, d, dtype=torch.float64)
        v2 = linear("to_v2", torch.stack(means)) if means else k2
        q2 = linear("to_q2", y)
        for i in range(n):
            if kept[b, i]:
                seen = [s for s, start in enumerate(starts) if abs(i - start) <= pool_window]
                out[b, i] = y[i] + _attend(q2[i], k2, v2, seen, h)
    return linear("to_out", out)


# --- the equations ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("case", CASES, ids=[f"B{c[0]}-N{c[1]}-h{c[3]}-w{c[4]}-pw{c[5]}-k{c[6]}-s{c[7]}"
                                             for c in CASES])
def test_matches_the_float64_two_level_reference_in_float64_and_float32(case, masked):
    batch, n, d, h, window, pool_window, pool_size, stride = case
    model = _build(d, h, window=window, pool_window=pool_window, pool_size=pool_size, stride=stride, seed=n)
    x = torch.randn(batch, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = reference(x, model, mask)
    with torch.no_grad():
        out64 = model(x, mask)
        out32 = model.float()(x.float(), mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-10
    assert rel_err(out32, ref) < 1e-4


def test_level_two_reaches_beyond_the_window_and_no_further_than_its_slots():
    model = _build(8, 2, window=2, pool_window=8, pool_size=2, stride=4, seed=6)
    x = torch.randn(1, 60, 8, dtype=torch.float64)
    query = 30
    assert output_changes(model, x, query, 32) and output_changes(model, x, query, 28)  # level one
    # slots starting at 36 and 24
    assert output_changes(model, x, query, 37) and output_changes(model, x, query, 25)
    # in no slot (pool_size 2)
    assert not output_changes(model, x, query, 34) and not output_changes(model, x, query, 35)
    # slot starts 40 and 20: too far
    assert not output_changes(model, x, query, 40) and not output_changes(model, x, query, 20)


def test_pooling_is_a_mean_over_kept_tokens_and_empty_slots_are_flagged():
    model = _build(4, 1, pool_size=3, stride=2)
    x = torch.arange(1.0, 8.0, dtype=torch.float64)[None, :, None].expand(1, 7, 4)
    keep = torch.tensor([[True, False, True, False, False, True, True]])
    means, filled = model.pool(x, keep)
    assert filled.tolist() == [[True, True, True, True]]
    assert means[0, :, 0].tolist() == [2.0, 3.0, 6.5, 7.0]  # kept values {1, 3}, {3}, {6, 7}, {7}
    means, filled = model.pool(x, torch.tensor([[True, True, False, False, False, True, True]]))
    assert filled.tolist() == [[True, False, True, True]] and means[0, 1, 0] == 0


def test_padded_tokens_do_not_change_kept_outputs():
    model = _build(12, 3, window=3, pool_window=10, pool_size=5, stride=4, seed=8)
    x = torch.randn(3, 41, 12, dtype=torch.float64)
    mask = padding_mask(3, 41, seed=9)
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    with torch.no_grad():
        out, out_changed = model(x, mask), model(changed, mask)
        assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
        assert torch.isfinite(out_changed).all()
        assert not torch.allclose(model(x)[mask], out[mask])


# --- memory and FLOPs ---------------------------------------------------------------------------------------

def test_memory_grows_linearly_and_no_n_by_n_tensor_is_built():
    b, d, h, window, pool_window, stride = 1, 16, 2, 32, 128, 4
    model = _build(d, h, window=window, pool_window=pool_window, stride=stride, dtype=torch.float32)
    largest = {}
    for n in (2048, 4096):
        x = torch.randn(b, n, d)
        with torch.no_grad(), LargestTensor() as probe:
            out = model(x, torch.ones(b, n, dtype=torch.bool))
        assert torch.isfinite(out).all()
        largest[n] = probe.largest
        assert probe.largest <= b * h * n * max(3 * window + 1, 3 * pool_window // stride + 2), f"N={n}"
        assert probe.largest * 8 <= b * h * n * n, f"N={n}: {probe.largest} is not far below B h N^2"
    assert 1.9 <= largest[4096] / largest[2048] <= 2.1


def _expected_flops(b: int, n: int, d: int, window: int, pool_window: int, stride: int) -> int:
    slots = -(-n // stride)

    def band(m: int, w: int, step: int) -> int:
        c = min(w, n)
        return -(-n // c) * c * min(m, (c - 1 + 2 * w) // step + 2)

    return 10 * b * n * d * d + 4 * b * slots * d * d + 4 * b * d * (band(n, window, 1) +
                                                                    band(slots, pool_window, stride))


@pytest.mark.parametrize("case", CASES, ids=[f"N{c[1]}-w{c[4]}-pw{c[5]}-s{c[7]}" for c in CASES])
def test_flops_equal_counted_matmul_flops_with_both_levels_projections(case):
    b, n, d, h, window, pool_window, pool_size, stride = case
    model = _build(d, h, window=window, pool_window=pool_window, pool_size=pool_size, stride=stride,
                   dtype=torch.float32).train()
    x = torch.randn(b, n, d)
    expected = _expected_flops(b, n, d, window, pool_window, stride)
    assert model.flops(b, n) == expected
    assert count_flops(lambda: model(x)) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x, padding_mask(b, n, seed=1))) == expected


def test_elementwise_flops_are_above_the_matmul_count_and_grow_with_the_scores():
    model = _build(16, 4, window=8, pool_window=32)
    assert model.flops(2, 200, elementwise=True) > model.flops(2, 200)
    extra = [model.flops(2, n, elementwise=True) - model.flops(2, n) for n in (400, 800)]
    assert 1.9 <= extra[1] / extra[0] <= 2.1


# --- gradients and precision --------------------------------------------------------------------------------

def test_backward_gives_finite_gradients_for_x_and_every_parameter():
    model = _build(16, 2, window=3, pool_window=12, dtype=torch.float32).train()
    x = torch.randn(3, 40, 16, requires_grad=True)
    mask = padding_mask(3, 40, seed=10)
    model(x, mask)[mask].square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


def test_gradients_match_finite_differences():
    model = _build(8, 2, window=2, pool_window=6, pool_size=3, stride=2, seed=4).train()
    x = torch.randn(1, 13, 8, dtype=torch.float64, requires_grad=True)
    mask = padding_mask(1, 13, seed=5)
    assert torch.autograd.gradcheck(lambda t: model(t, mask), (x,))


def test_bfloat16_forward_is_finite_and_within_three_percent_of_float64():
    model = _build(32, 4, window=4, pool_window=16, seed=11)
    x = torch.randn(2, 57, 32, dtype=torch.float64)
    mask = padding_mask(2, 57, seed=12)
    ref = reference(x, model, mask)
    with torch.no_grad():
        out = model.to(torch.bfloat16)(x.bfloat16(), mask)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert rel_err(out, ref) < 3e-2


# --- options and layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "words"), [
    ({"window": 0}, "window must be a positive integer"), ({"window": True}, "window"),
    ({"pool_window": -1}, "pool_window"), ({"pool_size": 2.5}, "pool_size"), ({"stride": "4"}, "stride"),
    ({"causal": True}, "no causal form"),
])
def test_invalid_options_are_model_errors_naming_the_problem(options, words):
    with pytest.raises(ModelError, match=words):
        models.build("poolingformer", 16, 2, **options)


def test_registered_with_the_stated_defaults_and_seven_projections():
    info = models.describe("poolingformer")
    assert not info.supports_causal and info.complexity == {"time": "linear", "memory": "linear"}
    assert {name: default for name, (default, _) in info.options.items()} == \
        {"window": 64, "pool_window": 256, "pool_size": 5, "stride": 4}
    assert all(help_text for _, help_text in info.options.values())
    shapes = {key: tuple(value.shape) for key, value in models.build("poolingformer", 32, 4).state_dict().items()}
    assert shapes == {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                      for p in ("to_q", "to_k", "to_v", "to_out", "to_q2", "to_k2", "to_v2")
                      for w in ("weight", "bias")}
