"""Longformer: equal to its attention rule in float64, full attention when the window or the globals cover
everything, O(N window) memory, exact FLOPs, and impl="flex" equal to impl="blocked" in forward.

The reference is written here from the rule, one query row at a time over exactly the keys the rule lets
it see (a set, so a global key inside the window is counted once), in float64; it shares no code with the
blocked layout of models/longformer.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import models
from bench.measure.flops import count_flops
from models import ModelError
from tests.models.reference import LargestTensor, output_changes, padding_mask, rel_err

# (batch, seq, d_model, heads, window, n_global)
CASES = [
    (2, 10, 16, 2, 3, 1),    # N not a multiple of the window
    (3, 23, 12, 3, 5, 2),    # several chunks; padding_mask pads the whole last row
    (1, 5, 8, 2, 8, 3),      # N < window
    (2, 12, 8, 1, 4, 0),     # no global token, N a multiple of the window
    (2, 9, 16, 4, 2, 12),    # n_global >= N
    (1, 1, 8, 2, 1, 1),      # length 1
    (2, 17, 16, 2, 1, 1),    # window 1
    (2, 40, 16, 2, 6, 4),    # global tokens both inside and outside the first chunk's window
]


def _build(d: int, h: int, *, causal: bool = False, window: int = 256, n_global: int = 1, impl: str = "blocked",
           seed: int = 0, dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("longformer", d, h, causal=causal, window=window, n_global=n_global,
                        impl=impl).to(dtype).eval()


def sees(i: int, j: int, window: int, n_global: int, causal: bool) -> bool:
    """The attention rule: may query i attend to key j?"""
    if causal:
        return j <= i and (i - j <= window or j < n_global)
    return abs(i - j) <= window or j < n_global or i < n_global


def reference(x: torch.Tensor, state: dict[str, torch.Tensor], n_heads: int, window: int, n_global: int,
              mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
    """Longformer from its rule in float64: each kept query takes one softmax over the kept keys it sees;
    padded query rows have zero attention output, so the layer gives to_out's bias there."""
    w = {name: t.detach().double().cpu() for name, t in state.items()}
    x = x.double().cpu()
    q, k, v = (x @ w[f"{p}.weight"].T + w[f"{p}.bias"] for p in ("to_q", "to_k", "to_v"))
    batch, n, d = x.shape
    dh = d // n_heads
    heads = torch.zeros(batch, n, d, dtype=torch.float64)
    for b in range(batch):
        for i in range(n):
            if mask is not None and not mask[b, i]:
                continue
            seen = [j for j in range(n) if (mask is None or mask[b, j]) and sees(i, j, window, n_global, causal)]
            for h in range(n_heads):
                cols = slice(h * dh, (h + 1) * dh)
                scores = k[b, seen, cols] @ q[b, i, cols] / math.sqrt(dh)
                weights = torch.exp(scores - scores.max())
                heads[b, i, cols] = (weights / weights.sum()) @ v[b, seen, cols]
    return heads @ w["to_out.weight"].T + w["to_out.bias"]


# --- the equations ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("case", CASES, ids=[f"B{c[0]}-N{c[1]}-h{c[3]}-w{c[4]}-g{c[5]}" for c in CASES])
def test_matches_the_float64_rule_reference_in_float64_and_float32(case, masked, causal):
    batch, n, d, h, window, n_global = case
    model = _build(d, h, causal=causal, window=window, n_global=n_global, seed=n + window)
    x = torch.randn(batch, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = reference(x, model.state_dict(), h, window, n_global, mask, causal)
    with torch.no_grad():
        out64 = model(x, mask)
        out32 = model.float()(x.float(), mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-10
    assert rel_err(out32, ref) < 1e-4


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("n", "window", "n_global"), [(9, 9, 0), (9, 8, 1), (12, 256, 5), (7, 30, 7)])
def test_a_window_covering_the_sequence_is_full_attention_with_each_global_key_counted_once(n, window, n_global,
                                                                                            causal):
    model = _build(16, 4, causal=causal, window=window, n_global=n_global, seed=3)
    full = models.build("sdpa", 16, 4, causal=causal).double().eval()
    full.load_state_dict(model.state_dict())
    x = torch.randn(3, n, 16, dtype=torch.float64)
    with torch.no_grad():
        for mask in (None, padding_mask(3, n, seed=4)):
            assert rel_err(model(x, mask), full(x, mask).double()) < 1e-10


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_every_token_global_is_full_attention_whatever_the_window(causal):
    model = _build(16, 2, causal=causal, window=1, n_global=20, seed=5)
    full = models.build("sdpa", 16, 2, causal=causal).double().eval()
    full.load_state_dict(model.state_dict())
    x = torch.randn(2, 20, 16, dtype=torch.float64)
    with torch.no_grad():
        assert rel_err(model(x), full(x).double()) < 1e-10


def test_far_tokens_reach_a_query_only_through_the_global_tokens():
    model = _build(16, 2, window=3, n_global=2, seed=6)
    x = torch.randn(2, 30, 16, dtype=torch.float64)
    assert output_changes(model, x, 20, 23) and output_changes(model, x, 20, 17)       # inside the window
    assert not output_changes(model, x, 20, 24) and not output_changes(model, x, 20, 16)  # just outside it
    assert output_changes(model, x, 20, 1)                                         # a global key
    assert output_changes(model, x, 0, 29) and output_changes(model, x, 1, 15)           # global queries see everything


def test_causal_outputs_ignore_future_tokens_and_keys_beyond_the_window():
    model = _build(16, 2, causal=True, window=4, n_global=1, seed=7)
    x = torch.randn(2, 25, 16, dtype=torch.float64)
    assert output_changes(model, x, 12, 8) and output_changes(model, x, 12, 12) and output_changes(model, x, 12, 0)
    assert not output_changes(model, x, 12, 7) and not output_changes(model, x, 12, 13)
    assert not output_changes(model, x, 0, 1)  # a causal global query sees only j <= i


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_padded_tokens_do_not_change_kept_outputs(causal):
    model = _build(12, 3, causal=causal, window=3, n_global=2, seed=8)
    x = torch.randn(3, 19, 12, dtype=torch.float64)
    mask = padding_mask(3, 19, seed=9)
    mask[1, :2] = False  # padded global tokens are padded keys like any other
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    with torch.no_grad():
        out, out_changed = model(x, mask), model(changed, mask)
        assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
        assert torch.isfinite(out_changed).all()
        assert not torch.allclose(model(x)[mask], out[mask])


# --- memory and FLOPs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_memory_grows_linearly_and_no_n_by_n_tensor_is_built(causal):
    b, d, h, window = 1, 16, 2, 64
    model = _build(d, h, causal=causal, window=window, n_global=2, dtype=torch.float32)
    largest = {}
    for n in (2048, 4096):
        x = torch.randn(b, n, d)
        with torch.no_grad(), LargestTensor() as probe:
            out = model(x, torch.ones(b, n, dtype=torch.bool))
        assert torch.isfinite(out).all()
        largest[n] = probe.largest
        assert probe.largest <= b * h * n * (3 * window + 2), f"N={n}: {probe.largest}"
        assert probe.largest * 8 <= b * h * n * n, f"N={n}: {probe.largest} is not far below B h N^2"
    assert 1.9 <= largest[4096] / largest[2048] <= 2.1


def _expected_flops(b: int, n: int, d: int, window: int, n_global: int, causal: bool) -> int:
    c = min(window, n)
    g = -(-n // c)
    keys = c if g == 1 else (2 * c if causal else 3 * c)
    glob = min(n_global, n)
    rows = 0 if causal else 4 * b * d * glob * n
    return 8 * b * n * d * d + 4 * b * d * g * c * (keys + glob) + rows


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("b", "n", "d", "h", "window", "n_global"), [
    (2, 7, 16, 2, 256, 1), (1, 64, 32, 4, 256, 1), (3, 1, 16, 4, 256, 1), (2, 10, 16, 2, 3, 1),
    (3, 23, 12, 3, 5, 2), (2, 12, 8, 1, 4, 0), (2, 9, 16, 4, 2, 12), (1, 100, 16, 2, 16, 3), (2, 17, 16, 2, 1, 1),
])
def test_flops_equal_counted_matmul_flops(b, n, d, h, window, n_global, causal):
    model = _build(d, h, causal=causal, window=window, n_global=n_global, dtype=torch.float32).train()
    x = torch.randn(b, n, d)
    expected = _expected_flops(b, n, d, window, n_global, causal)
    assert model.flops(b, n) == expected
    assert count_flops(lambda: model(x)) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x)) == expected
        assert count_flops(lambda: model(x, padding_mask(b, n, seed=1))) == expected


def test_elementwise_flops_add_biases_q_scaling_and_six_per_score():
    b, n, d, h, window, n_global = 2, 50, 16, 4, 8, 3
    for causal in (False, True):
        model = _build(d, h, causal=causal, window=window, n_global=n_global)
        padded, keys = 7 * 8, 2 * 8 if causal else 3 * 8
        scores = b * h * (padded * (keys + n_global) + (0 if causal else n_global * n))
        assert model.flops(b, n, elementwise=True) == model.flops(b, n) + 5 * b * n * d + 6 * scores


# --- gradients and precision --------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_backward_gives_finite_gradients_for_x_and_every_parameter(causal):
    model = _build(16, 2, causal=causal, window=3, n_global=2, dtype=torch.float32).train()
    x = torch.randn(3, 14, 16, requires_grad=True)
    mask = padding_mask(3, 14, seed=10)
    model(x, mask)[mask].square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_bfloat16_forward_is_finite_and_within_three_percent_of_float64(causal):
    model = _build(32, 4, causal=causal, window=5, n_global=2, seed=11)
    x = torch.randn(2, 37, 32, dtype=torch.float64)
    mask = padding_mask(2, 37, seed=12)
    ref = reference(x, model.state_dict(), 4, 5, 2, mask, causal)
    with torch.no_grad():
        out = model.to(torch.bfloat16)(x.bfloat16(), mask)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert rel_err(out, ref) < 3e-2


# --- impl="flex" --------------------------------------------------------------------------------------------

FLEX_CASES = [(2, 10, 3, 1), (3, 23, 5, 2), (1, 5, 8, 3), (2, 12, 4, 0), (2, 9, 2, 12), (1, 1, 1, 1),
              (2, 150, 16, 2)]  # (batch, seq, window, n_global); d 16, 2 heads


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("case", FLEX_CASES, ids=[f"B{c[0]}-N{c[1]}-w{c[2]}-g{c[3]}" for c in FLEX_CASES])
def test_flex_forward_equals_blocked_in_float32(case, causal):
    batch, n, window, n_global = case
    blocked = _build(16, 2, causal=causal, window=window, n_global=n_global, dtype=torch.float32, seed=n)
    flex = _build(16, 2, causal=causal, window=window, n_global=n_global, impl="flex", dtype=torch.float32)
    flex.load_state_dict(blocked.state_dict())
    x = torch.randn(batch, n, 16)
    with torch.no_grad():
        for mask in (None, padding_mask(batch, n, seed=n)):
            out = flex(x, mask)
            assert flex.kernel() == "flex" and blocked.kernel() == "blocked"
            assert torch.isfinite(out).all()
            torch.testing.assert_close(out, blocked(x, mask), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_block_mask_is_cached_per_length_only_without_a_padding_mask():
    model = _build(16, 2, window=4, n_global=1, impl="flex", dtype=torch.float32)
    x = torch.randn(2, 20, 16)
    with torch.no_grad():
        model(x)
        cached = model._block_masks[(20, x.device)]
        model(x)
        model(x, padding_mask(2, 20, seed=1))
        assert model._block_masks[(20, x.device)] is cached and len(model._block_masks) == 1
        model(x[:, :13])
    assert sorted(n for n, _ in model._block_masks) == [13, 20]


@pytest.mark.skipif(torch.cuda.is_available(), reason="flex backward exists on CUDA")
def test_flex_training_on_cpu_is_a_model_error_naming_impl_blocked():
    model = _build(16, 2, window=4, impl="flex", dtype=torch.float32).train()
    with pytest.raises(ModelError, match="impl='blocked'"):
        model(torch.randn(2, 9, 16))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="FlexAttention does not support backward on CPU")
def test_flex_backward_on_cuda_equals_blocked_gradients():
    blocked = _build(16, 2, window=4, n_global=2, dtype=torch.float32).cuda().train()
    flex = _build(16, 2, window=4, n_global=2, impl="flex", dtype=torch.float32).cuda().train()
    flex.load_state_dict(blocked.state_dict())
    x = torch.randn(2, 33, 16, device="cuda")
    mask = padding_mask(2, 33, seed=2).cuda()
    grads = []
    for model in (blocked, flex):
        xg = x.clone().requires_grad_()
        model(xg, mask)[mask].square().mean().backward()
        grads.append([xg.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_flops_are_the_dense_count_the_flop_counter_formula_gives():
    b, n, d, h = 2, 50, 16, 4
    model = _build(d, h, window=4, n_global=1, impl="flex", dtype=torch.float32)
    assert model.flops(b, n) == models.build("softmax", d, h).flops(b, n) == 8 * b * n * d * d + 4 * b * n * n * d
    formula = FlopCounterMode().flop_registry[torch.ops.higher_order.flex_attention]
    q = torch.empty(b, h, n, d // h)
    assert formula(q, q, q) == 4 * b * n * n * d
    x = torch.randn(b, n, d)
    with torch.no_grad():
        try:  # torch 2.13 cannot run flex under FlopCounterMode (pytorch/pytorch#134385)
            counted = count_flops(lambda: model(x))
        except ModelError as exc:
            assert "impl='blocked'" in str(exc) and "FlopCounterMode" in str(exc)
        else:
            assert counted == model.flops(b, n)


@pytest.mark.slow
def test_compiled_flex_equals_blocked_and_reports_flex_compiled():
    blocked = _build(32, 4, window=8, n_global=2, dtype=torch.float32, seed=13)
    flex = _build(32, 4, window=8, n_global=2, impl="flex", dtype=torch.float32)
    flex.load_state_dict(blocked.state_dict())
    compiled = torch.compile(flex, dynamic=False)
    x = torch.randn(2, 200, 32)
    mask = padding_mask(2, 200, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), blocked(x), rtol=1e-5, atol=1e-5)
        assert flex.kernel() == "flex-compiled"
        torch.testing.assert_close(compiled(x, mask), blocked(x, mask), rtol=1e-5, atol=1e-5)


# --- options and layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "words"), [
    ({"window": 0}, "window must be a positive integer"), ({"window": -2}, "window"), ({"window": True}, "window"),
    ({"window": 2.5}, "window"), ({"n_global": -1}, "n_global must be a non-negative integer"),
    ({"n_global": "1"}, "n_global"), ({"impl": "cuda"}, "blocked, flex"), ({"impl": None}, "impl"),
])
def test_invalid_options_are_model_errors_naming_the_valid_values(options, words):
    with pytest.raises(ModelError, match=words):
        models.build("longformer", 16, 2, **options)


def test_registered_with_documented_defaults_layout_and_kernel():
    info = models.describe("longformer")
    assert info.supports_causal and info.complexity == {"time": "linear", "memory": "linear"}
    assert {name: default for name, (default, _) in info.options.items()} == \
        {"window": 256, "n_global": 1, "impl": "blocked"}
    assert all(help_text for _, help_text in info.options.values())
    model = models.build("longformer", 32, 4)
    assert model.kernel() == "blocked" and models.build("longformer", 32, 4, impl="flex").kernel() == "flex"
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes == {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                      for p in ("to_q", "to_k", "to_v", "to_out") for w in ("weight", "bias")}
