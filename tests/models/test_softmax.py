"""Specification of the textbook softmax attention layer (models/softmax.py)."""

from __future__ import annotations

import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bench.measure.flops import count_flops
from models import build, describe
from models.base import ModelError
from models.softmax import SoftmaxAttention
from tests.models.reference import padding_mask, rel_err, softmax_attention

SHAPES = [(2, 1, 8, 2), (3, 7, 12, 3), (2, 16, 16, 4), (1, 13, 8, 1)]  # (batch, seq, d_model, heads)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_float64_reference_in_float64_and_float32(shape, masked, causal):
    batch, n, d, h = shape
    torch.manual_seed(hash((shape, masked, causal)) % 2**31)
    model = SoftmaxAttention(d, h, causal=causal)
    x = torch.randn(batch, n, d, dtype=torch.float64)
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = softmax_attention(x, model.state_dict(), h, mask, causal)
    out32 = model(x.float(), mask)
    out64 = model.double()(x, mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-5
    assert rel_err(out32, ref) < 1e-3


def test_bfloat16_forward_is_close_to_reference():
    torch.manual_seed(1)
    model = SoftmaxAttention(16, 4, causal=True).to(torch.bfloat16)
    x = torch.randn(2, 11, 16).to(torch.bfloat16)
    mask = padding_mask(2, 11, seed=3)
    out = model(x, mask)
    assert out.dtype == torch.bfloat16
    assert rel_err(out, softmax_attention(x, model.state_dict(), 4, mask, causal=True)) < 3e-2


def test_padded_tokens_do_not_change_kept_outputs():
    torch.manual_seed(2)
    model = SoftmaxAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    mask = padding_mask(2, 9, seed=5)
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    out, out_changed = model(x, mask), model(changed, mask)
    assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
    assert not torch.allclose(model(x), model(changed))  # the mask is what hides them


def test_future_tokens_do_not_change_earlier_outputs():
    torch.manual_seed(3)
    model = SoftmaxAttention(12, 3, causal=True).double()
    x = torch.randn(2, 10, 12, dtype=torch.float64)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, 12, dtype=torch.float64)
    out, out_changed = model(x), model(changed)
    assert torch.allclose(out[:, :6], out_changed[:, :6], rtol=0, atol=1e-12)
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


def test_non_causal_layer_is_permutation_equivariant():
    torch.manual_seed(4)
    model = SoftmaxAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    mask = padding_mask(2, 9, seed=6)
    perm = torch.randperm(9)
    assert torch.allclose(model(x, mask)[:, perm], model(x[:, perm], mask[:, perm]), atol=1e-12)


def test_query_rows_with_no_visible_key_give_output_bias_not_nan():
    torch.manual_seed(5)
    model = SoftmaxAttention(8, 2, causal=True)
    x = torch.randn(2, 6, 8)
    mask = torch.tensor([[False, False, True, True, False, True], [False] * 6])  # left padding, all padding
    out = model(x, mask)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[~mask], model.to_out.bias.expand(int((~mask).sum()), 8))


def test_backward_gives_finite_gradients_with_mask_and_causal():
    torch.manual_seed(6)
    model = SoftmaxAttention(12, 3, causal=True)
    x = torch.randn(3, 7, 12, requires_grad=True)
    model(x, padding_mask(3, 7, seed=7)).square().sum().backward()
    grads = [x.grad] + [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(2, 1, 8, 2), (3, 7, 12, 3), (2, 33, 16, 4), (1, 64, 32, 8)])
def test_flops_equal_counted_matmul_flops(shape, causal):
    batch, n, d, h = shape
    model = SoftmaxAttention(d, h, causal=causal)
    x = torch.randn(batch, n, d)
    expected = 8 * batch * n * d * d + 4 * batch * n * n * d
    assert model.flops(batch, n) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x)) == expected
        assert count_flops(lambda: model(x, padding_mask(batch, n, seed=0))) == expected


def test_elementwise_flops_add_bias_q_scaling_softmax_and_causal_mask_terms():
    b, n, d, h = 2, 10, 16, 4
    scores = b * h * n * n
    assert SoftmaxAttention(d, h).flops(b, n, elementwise=True) == (
        SoftmaxAttention(d, h).flops(b, n) + 5 * b * n * d + 5 * scores)
    causal = SoftmaxAttention(d, h, causal=True)
    assert causal.flops(b, n, elementwise=True) == causal.flops(b, n) + 5 * b * n * d + 6 * scores


# --- one pass and one live tensor per N x N score matrix ---------------------------------------------------

class _ScoreTensors(TorchDispatchMode):
    """Records the ops that write a tensor of at least `size` elements, and the largest number of such
    tensors (counted by storage, so views of one count once) alive at the same time."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.writers: list[str] = []
        self.alive: dict[int, list[weakref.ref]] = {}
        self.peak_alive = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.numel() >= self.size:
            if not func.is_view and func is not torch.ops.aten._unsafe_view.default:
                self.writers.append(func.overloadpacket.__name__)
            self.alive.setdefault(out.untyped_storage().data_ptr(), []).append(weakref.ref(out))
        live = sum(any(ref() is not None for ref in refs) for refs in self.alive.values())
        self.peak_alive = max(self.peak_alive, live)
        return out


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_scores_get_one_pass_per_step_and_no_scaling_pass(masked, causal):
    batch, n, d, h = 2, 33, 8, 2
    model = SoftmaxAttention(d, h, causal=causal)
    x = torch.randn(batch, n, d)
    mask = padding_mask(batch, n, seed=8) if masked else None
    with torch.no_grad(), _ScoreTensors(batch * h * n * n) as probe:
        model(x, mask)
    assert probe.writers == ["bmm"] + ["masked_fill_"] * (masked + causal) + ["softmax"]


@pytest.mark.parametrize("causal", [False, True])
def test_inference_keeps_a_single_n_by_n_tensor_alive(causal):
    batch, n, d, h = 2, 96, 8, 2
    model = SoftmaxAttention(d, h, causal=causal)
    x = torch.randn(batch, n, d)
    with torch.no_grad(), _ScoreTensors(batch * h * n * n) as probe:
        model(x, padding_mask(batch, n, seed=9))
    assert probe.peak_alive == 1


def test_training_saves_only_the_probabilities_and_matches_inference_exactly():
    batch, n, d, h = 2, 40, 8, 2
    torch.manual_seed(7)
    model = SoftmaxAttention(d, h, causal=True)
    x, mask = torch.randn(batch, n, d), padding_mask(batch, n, seed=10)
    saved_scores = []

    def pack(t):
        if t.numel() >= batch * h * n * n and t.is_floating_point():
            saved_scores.append(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x, mask)
    assert out.requires_grad and len(set(saved_scores)) == 1
    with torch.no_grad():
        assert torch.equal(out, model(x, mask))
    out.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_state_dict_has_four_biased_d_by_d_projections():
    state = SoftmaxAttention(12, 3).state_dict()
    assert {name: tuple(t.shape) for name, t in state.items()} == {
        f"{p}.{kind}": (12, 12) if kind == "weight" else (12,)
        for p in ("to_q", "to_k", "to_v", "to_out") for kind in ("weight", "bias")}


def test_is_registered_reports_aten_and_rejects_bad_input():
    model = build("softmax", 16, 4, causal=True)
    assert isinstance(model, SoftmaxAttention) and model.causal
    assert model.kernel() == "aten"
    assert describe("softmax").options == {} and describe("softmax").supports_causal
    with pytest.raises(ModelError, match="mask shape"):
        model(torch.randn(2, 5, 16), torch.ones(2, 4, dtype=torch.bool))
