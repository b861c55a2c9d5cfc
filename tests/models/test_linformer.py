"""Specification of Linformer attention (models/linformer.py)."""

from __future__ import annotations

import math

import pytest
import torch

from bench.measure.flops import count_flops
from models import build, describe
from models.base import ModelError
from models.linformer import LinformerAttention
from tests.models.reference import padding_mask, rel_err

# (batch, seq, d_model, heads, k, max_len): N = 1, N = max_len, N < max_len, k > N, k = 1
CASES = [(2, 1, 8, 2, 4, 16), (3, 7, 12, 3, 5, 7), (2, 16, 16, 4, 8, 40), (1, 13, 8, 1, 20, 32),
         (2, 9, 12, 3, 1, 9)]


def reference(x: torch.Tensor, state: dict[str, torch.Tensor], n_heads: int,
              mask: torch.Tensor | None) -> torch.Tensor:
    """Linformer from its equations in float64, one query row at a time.

    K' = E[:, :N] K and V' = F[:, :N] V with padded rows of K and V set to zero; each kept query takes a
    softmax over the k projected keys per head; padded query rows have zero attention output.
    """
    w = {name: t.detach().double() for name, t in state.items()}
    x = x.double()
    q, k, v = (x @ w[f"{p}.weight"].T + w[f"{p}.bias"] for p in ("to_q", "to_k", "to_v"))
    batch, n, d = x.shape
    if mask is not None:
        k, v = k * mask[..., None], v * mask[..., None]
    dh = d // n_heads
    heads = torch.zeros(batch, n, d, dtype=torch.float64)
    for b in range(batch):
        keys = w["proj_k"][:, :n] @ k[b]
        values = w["proj_v"][:, :n] @ v[b]
        for i in range(n):
            if mask is not None and not mask[b, i]:
                continue
            for h in range(n_heads):
                cols = slice(h * dh, (h + 1) * dh)
                scores = keys[:, cols] @ q[b, i, cols] / math.sqrt(dh)
                weights = torch.exp(scores - scores.max())
                heads[b, i, cols] = (weights / weights.sum()) @ values[:, cols]
    return heads @ w["to_out.weight"].T + w["to_out.bias"]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_matches_float64_reference_in_float64_and_float32(case, masked):
    batch, n, d, h, k, max_len = case
    torch.manual_seed(hash((case, masked)) % 2**31)
    model = LinformerAttention(d, h, k=k, max_len=max_len)
    x = torch.randn(batch, n, d, dtype=torch.float64)
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = reference(x, model.state_dict(), h, mask)
    out32 = model(x.float(), mask)
    out64 = model.double()(x, mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-5
    assert rel_err(out32, ref) < 1e-3


def test_shorter_inputs_use_only_the_leading_columns_of_e_and_f():
    torch.manual_seed(1)
    model = LinformerAttention(12, 3, k=4, max_len=20).double()
    x = torch.randn(2, 11, 12, dtype=torch.float64)
    before = model(x)
    with torch.no_grad():
        model.proj_k[:, 11:] = torch.randn(4, 9, dtype=torch.float64)
        model.proj_v[:, 11:] = torch.randn(4, 9, dtype=torch.float64)
    assert torch.equal(model(x), before)
    with torch.no_grad():
        model.proj_k[0, 10] += 1.0  # one row: shifting all rows alike would cancel in the softmax
    assert not torch.allclose(model(x), before)


def test_longer_inputs_than_max_len_raise_naming_max_len():
    model = LinformerAttention(8, 2, k=4, max_len=8)
    model(torch.randn(1, 8, 8))
    with pytest.raises(ModelError, match=r"sequence length 9 exceeds max_len=8"):
        model(torch.randn(1, 9, 8))


def test_has_no_causal_form():
    assert not LinformerAttention.supports_causal and not describe("linformer").supports_causal
    with pytest.raises(ModelError, match="no causal form"):
        LinformerAttention(8, 2, causal=True, k=4, max_len=8)


@pytest.mark.parametrize("options", [{"k": 9, "max_len": 8}, {"k": 0}, {"k": True}, {"max_len": -1},
                                     {"k": 2.5}])
def test_invalid_k_or_max_len_raise_model_error(options):
    with pytest.raises(ModelError, match="k|max_len"):
        LinformerAttention(8, 2, **options)


def test_padded_tokens_do_not_change_kept_outputs():
    torch.manual_seed(2)
    model = LinformerAttention(12, 3, k=5, max_len=16).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    mask = padding_mask(2, 9, seed=5)
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    out, out_changed = model(x, mask), model(changed, mask)
    assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
    assert not torch.allclose(model(x), model(changed))


def test_is_not_permutation_equivariant_because_e_and_f_are_tied_to_positions():
    torch.manual_seed(4)
    model = LinformerAttention(12, 3, k=4, max_len=9).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    perm = torch.randperm(9)
    assert not torch.allclose(model(x)[:, perm], model(x[:, perm]), atol=1e-6)


def test_backward_gives_finite_gradients_with_a_mask():
    torch.manual_seed(6)
    model = LinformerAttention(12, 3, k=4, max_len=10)
    x = torch.randn(3, 7, 12, requires_grad=True)
    model(x, padding_mask(3, 7, seed=7)).square().sum().backward()
    grads = [x.grad] + [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.proj_k.grad[:, 7:].abs().sum() == 0 and model.proj_k.grad[:, :7].abs().sum() > 0


def test_bfloat16_forward_is_close_to_reference():
    torch.manual_seed(1)
    model = LinformerAttention(16, 4, k=6, max_len=16).to(torch.bfloat16)
    x = torch.randn(2, 11, 16).to(torch.bfloat16)
    mask = padding_mask(2, 11, seed=3)
    out = model(x, mask)
    assert out.dtype == torch.bfloat16
    assert rel_err(out, reference(x, model.state_dict(), 4, mask)) < 3e-2


@pytest.mark.parametrize("case", CASES + [(2, 64, 32, 8, 16, 128)])
def test_flops_equal_counted_matmul_flops(case):
    batch, n, d, h, k, max_len = case
    model = LinformerAttention(d, h, k=k, max_len=max_len)
    x = torch.randn(batch, n, d)
    expected = 4 * batch * n * d * d + 8 * batch * n * k * d + 4 * batch * k * d * d
    assert model.flops(batch, n) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x)) == expected
        assert count_flops(lambda: model(x, padding_mask(batch, n, seed=0))) == expected


def test_elementwise_flops_add_bias_scaling_and_softmax_over_k_keys():
    b, n, d, h, k = 2, 10, 16, 4, 6
    model = LinformerAttention(d, h, k=k, max_len=32)
    extra = 2 * b * n * d + 2 * b * k * d + b * n * d + 5 * b * h * n * k
    assert model.flops(b, n, elementwise=True) == model.flops(b, n) + extra


def test_state_dict_layout_and_registration():
    model = build("linformer", 12, 3, k=4, max_len=10)
    assert isinstance(model, LinformerAttention) and model.max_len == 10 and model.kernel() == "aten"
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert shapes == {"proj_k": (4, 10), "proj_v": (4, 10),
                      **{f"{p}.{kind}": (12, 12) if kind == "weight" else (12,)
                         for p in ("to_q", "to_k", "to_v", "to_out") for kind in ("weight", "bias")}}
    options = describe("linformer").options
    assert options["k"][0] == 256 and options["max_len"][0] == 4096
