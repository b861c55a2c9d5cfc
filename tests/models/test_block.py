"""Specification of models.block: pre-LayerNorm Transformer layers and (shared) stacks of them."""

from __future__ import annotations

import math

import pytest
import torch

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.block import Block, Stack, build_block

CUSTOM = "tests.fixtures.custom_layer:TinyAttention"
# Attention models the block is checked with: the always-present user layer plus registered ones.
WRAPPED = [CUSTOM, "softmax", "fastformer"]


def _skip_unless_available(name: str) -> None:
    if ":" not in name and name not in models.available():
        pytest.skip(f"model {name!r} is not registered yet")


def _randomise_norms(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Give every LayerNorm a non-trivial scale and shift so the reference checks the affine part."""
    for sub in module.modules():
        if isinstance(sub, torch.nn.LayerNorm):
            with torch.no_grad():
                sub.weight.copy_(1 + 0.5 * torch.randn(sub.weight.shape, generator=gen, dtype=torch.float64))
                sub.bias.copy_(0.5 * torch.randn(sub.bias.shape, generator=gen, dtype=torch.float64))


def _reference_block(block: Block, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Pre-LN layer written out from its equations in float64; the attention term is the block's own."""
    def layer_norm(t: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
        mean = t.mean(dim=-1, keepdim=True)
        var = ((t - mean) ** 2).mean(dim=-1, keepdim=True)
        return (t - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias

    up, down = block.ffn[0], block.ffn[2]
    h = x + block.attention(layer_norm(x, block.norm_attn), mask=mask)
    z = layer_norm(h, block.norm_ffn) @ up.weight.T + up.bias
    gelu = 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))
    return h + gelu @ down.weight.T + down.bias


def _mask(batch: int, seq: int, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(batch, seq, generator=gen) < 0.6
    mask[:, 0] = True
    return mask


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_block_matches_float64_reference_of_norms_ffn_and_residuals(causal: bool, with_mask: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    stack = build_block(CUSTOM, 24, 3, causal=causal).double()
    block = stack.layers[0]
    _randomise_norms(block, gen)
    x = torch.randn(3, 11, 24, generator=gen, dtype=torch.float64)
    mask = _mask(3, 11, gen) if with_mask else None
    out = block(x, mask=mask)
    torch.testing.assert_close(out, _reference_block(block, x, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stack(x, mask=mask), out, rtol=0, atol=0)


def test_block_is_not_a_registered_attention_model() -> None:
    assert "block" not in models.available()
    assert all(models.get(name) not in (Block, Stack) for name in models.available())


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", WRAPPED)
def test_stack_flops_equal_flop_counter_exactly(name: str, causal: bool) -> None:
    _skip_unless_available(name)
    if causal and not getattr(models.get(name), "supports_causal", True):
        pytest.skip(f"{name} has no causal form")
    torch.manual_seed(0)
    stack = build_block(name, 16, 2, causal=causal, n_layers=2)
    for batch, seq in ((2, 7), (1, 32)):
        x = torch.randn(batch, seq, 16)
        with torch.no_grad():
            counted = count_flops(lambda: stack(x))  # noqa: B023 - called immediately
        assert stack.flops(batch, seq) == counted
        attn_flops = stack.layers[0].attention.flops(batch, seq)
        assert stack.flops(batch, seq) == 2 * (attn_flops + 16 * batch * seq * 16 ** 2)
        assert stack.flops(batch, seq, elementwise=True) > stack.flops(batch, seq)


def test_shared_stack_has_one_layer_of_parameters() -> None:
    torch.manual_seed(0)
    shared = build_block(CUSTOM, 16, 2, n_layers=4, share_layers=True)
    separate = build_block(CUSTOM, 16, 2, n_layers=4)
    single = build_block(CUSTOM, 16, 2, n_layers=1)
    assert shared.param_count() * 4 == separate.param_count()
    assert shared.param_count() == single.param_count() == single.layers[0].param_count()
    assert separate.param_count() == sum(p.numel() for p in separate.parameters())
    assert len(shared.layers) == 1 and len(separate.layers) == 4
    assert len({id(b) for b in separate.blocks()}) == 4


def test_shared_stack_applies_the_same_weights_in_every_layer() -> None:
    torch.manual_seed(0)
    shared = build_block(CUSTOM, 16, 2, n_layers=3, share_layers=True).double()
    block = shared.layers[0]
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    torch.testing.assert_close(shared(x), block(block(block(x))), rtol=0, atol=0)
    with torch.no_grad():
        block.ffn[2].bias.add_(1.0)
    torch.testing.assert_close(shared(x), block(block(block(x))), rtol=0, atol=0)


def test_unshared_stack_applies_its_blocks_in_order() -> None:
    torch.manual_seed(0)
    stack = build_block(CUSTOM, 16, 2, n_layers=3).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    expected = x
    for block in stack.layers:
        expected = block(expected)
    torch.testing.assert_close(stack(x), expected, rtol=0, atol=0)
    # the layers really are distinct: applying them in reverse order changes the result
    assert not torch.allclose(stack.layers[0](stack.layers[1](stack.layers[2](x))), expected)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", WRAPPED)
def test_mask_propagates_padded_tokens_do_not_change_kept_outputs(name: str, causal: bool) -> None:
    _skip_unless_available(name)
    if causal and not getattr(models.get(name), "supports_causal", True):
        pytest.skip(f"{name} has no causal form")
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    stack = build_block(name, 16, 2, causal=causal, n_layers=2).double()
    x = torch.randn(3, 13, 16, generator=gen, dtype=torch.float64)
    mask = _mask(3, 13, gen)
    changed = torch.where(mask[..., None], x, 100 * torch.randn(x.shape, generator=gen, dtype=x.dtype))
    out, out_changed = stack(x, mask=mask), stack(changed, mask=mask)
    torch.testing.assert_close(out[mask], out_changed[mask], rtol=1e-10, atol=1e-10)
    unmasked = stack(changed)
    assert not torch.allclose(unmasked[mask], out[mask]), "without the mask the padded tokens must matter"


def test_backward_gives_finite_gradients_for_every_parameter() -> None:
    torch.manual_seed(0)
    stack = build_block(CUSTOM, 16, 2, causal=True, n_layers=2)
    x = torch.randn(2, 7, 16, requires_grad=True)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    stack(x, mask=mask).square().mean().backward()
    for pname, param in stack.named_parameters():
        assert param.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"
    assert torch.isfinite(x.grad).all()


def test_kernel_is_delegated_to_the_attention() -> None:
    stack = build_block(CUSTOM, 16, 2, n_layers=2)
    assert stack.kernel() == stack.layers[0].attention.kernel() == "aten"


@pytest.mark.parametrize("n_layers", [0, -1, 1.5, True, "2"])
def test_n_layers_below_one_or_not_an_integer_is_a_model_error(n_layers: object) -> None:
    with pytest.raises(ModelError, match="n_layers"):
        build_block(CUSTOM, 16, 2, n_layers=n_layers)


def test_share_layers_must_be_a_bool() -> None:
    with pytest.raises(ModelError, match="share_layers"):
        build_block(CUSTOM, 16, 2, n_layers=2, share_layers="yes")


def test_build_block_passes_options_and_errors_through_the_registry() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        build_block("no-such-model", 16, 2)
    with pytest.raises(ModelError, match="no option"):
        build_block(CUSTOM, 16, 2, bogus=1)
    with pytest.raises(ModelError, match="not divisible"):
        build_block(CUSTOM, 16, 3)


def test_block_rejects_input_of_the_wrong_width_with_a_model_error() -> None:
    stack = build_block(CUSTOM, 16, 2)
    with pytest.raises(ModelError, match="d_model=16"):
        stack(torch.randn(2, 5, 8))
    with pytest.raises(ModelError, match="d_model"):
        Block(models.build(CUSTOM, 16, 2), 32)


def test_stack_of_a_user_module_without_flops_says_so() -> None:
    class NoFlops(torch.nn.Module):
        def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
            return x

    stack = Stack(lambda: Block(NoFlops(), 8), 2)
    x = torch.randn(1, 3, 8)
    assert stack(x).shape == x.shape
    with pytest.raises(ModelError, match="no flops"):
        stack.flops(1, 3)
    with pytest.raises(ModelError, match=r"\(batch, seq, 8\)"):
        stack(torch.randn(3, 8))
