"""Specification of softmax attention through F.scaled_dot_product_attention (models/sdpa.py)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.measure.flops import count_flops
from models import build, describe
from models.base import ModelError
from models.sdpa import SDPAAttention
from models.softmax import SoftmaxAttention
from tests.models.reference import padding_mask, rel_err, softmax_attention

SHAPES = [(2, 1, 8, 2), (3, 7, 12, 3), (2, 16, 16, 4), (1, 13, 8, 1)]  # (batch, seq, d_model, heads)
CPU_BACKENDS = ["auto", "math", "flash"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_float64_reference_in_float64_and_float32(shape, masked, causal, backend):
    batch, n, d, h = shape
    torch.manual_seed(hash((shape, masked, causal)) % 2**31)
    model = SDPAAttention(d, h, causal=causal, backend=backend)
    x = torch.randn(batch, n, d, dtype=torch.float64)
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = softmax_attention(x, model.state_dict(), h, mask, causal)
    out32 = model(x.float(), mask)
    out64 = model.double()(x, mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-5
    assert rel_err(out32, ref) < 1e-3


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_agrees_with_softmax_layer_given_the_same_weights(backend, masked, causal):
    torch.manual_seed(7)
    naive = SoftmaxAttention(16, 4, causal=causal)
    fused = SDPAAttention(16, 4, causal=causal, backend=backend)
    fused.load_state_dict(naive.state_dict())
    x = torch.randn(3, 11, 16)
    mask = padding_mask(3, 11, seed=8) if masked else None
    assert torch.allclose(fused(x, mask), naive(x, mask), rtol=1e-5, atol=1e-5)


def test_bfloat16_forward_is_close_to_reference():
    torch.manual_seed(1)
    model = SDPAAttention(16, 4, causal=True).to(torch.bfloat16)
    x = torch.randn(2, 11, 16).to(torch.bfloat16)
    mask = padding_mask(2, 11, seed=3)
    out = model(x, mask)
    assert out.dtype == torch.bfloat16
    assert rel_err(out, softmax_attention(x, model.state_dict(), 4, mask, causal=True)) < 3e-2


def test_padded_tokens_do_not_change_kept_outputs():
    torch.manual_seed(2)
    model = SDPAAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    mask = padding_mask(2, 9, seed=5)
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    out, out_changed = model(x, mask), model(changed, mask)
    assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
    assert not torch.allclose(model(x), model(changed))


def test_future_tokens_do_not_change_earlier_outputs():
    torch.manual_seed(3)
    model = SDPAAttention(12, 3, causal=True).double()
    x = torch.randn(2, 10, 12, dtype=torch.float64)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, 12, dtype=torch.float64)
    out, out_changed = model(x), model(changed)
    assert torch.allclose(out[:, :6], out_changed[:, :6], rtol=0, atol=1e-12)
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


def test_non_causal_layer_is_permutation_equivariant():
    torch.manual_seed(4)
    model = SDPAAttention(12, 3).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    mask = padding_mask(2, 9, seed=6)
    perm = torch.randperm(9)
    assert torch.allclose(model(x, mask)[:, perm], model(x[:, perm], mask[:, perm]), atol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_query_rows_with_no_visible_key_give_finite_outputs_and_gradients(backend):
    torch.manual_seed(5)
    model = SDPAAttention(8, 2, causal=True, backend=backend)
    x = torch.randn(2, 6, 8, requires_grad=True)
    mask = torch.tensor([[False, False, True, True, False, True], [False] * 6])  # left padding, all padding
    out = model(x, mask)
    assert torch.allclose(out[~mask], model.to_out.bias.expand(int((~mask).sum()), 8))
    out.square().sum().backward()
    grads = [out, x.grad] + [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("backend", ["auto", "math"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(2, 1, 8, 2), (3, 7, 12, 3), (2, 33, 16, 4), (1, 64, 32, 8)])
def test_flops_equal_counted_flops_with_and_without_mask(shape, causal, backend):
    batch, n, d, h = shape
    model = SDPAAttention(d, h, causal=causal, backend=backend)
    x = torch.randn(batch, n, d)
    expected = 8 * batch * n * d * d + 4 * batch * n * n * d
    assert model.flops(batch, n) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x)) == expected
        assert count_flops(lambda: model(x, padding_mask(batch, n, seed=0))) == expected


def test_elementwise_flops_match_the_softmax_layer_estimate():
    for causal in (False, True):
        assert SDPAAttention(16, 4, causal=causal).flops(2, 10, elementwise=True) == \
            SoftmaxAttention(16, 4, causal=causal).flops(2, 10, elementwise=True)
    assert SDPAAttention(16, 4).flops(2, 10, elementwise=True) > SDPAAttention(16, 4).flops(2, 10)


def test_kernel_reports_the_backend_observed_on_cpu():
    x = torch.randn(2, 9, 16)
    with torch.no_grad():
        auto = SDPAAttention(16, 4)
        auto(x)
        assert auto.kernel() in {"flash_cpu", "math"}
        forced_math = SDPAAttention(16, 4, backend="math")
        forced_math(x)
        assert forced_math.kernel() == "math"
        forced_flash = SDPAAttention(16, 4, backend="flash")
        forced_flash(x, padding_mask(2, 9, seed=1))
        assert forced_flash.kernel() == "flash_cpu"


def test_kernel_is_observed_not_assumed():
    model = SDPAAttention(16, 4)
    x = torch.randn(2, 9, 16)
    with torch.no_grad():
        model(x)
        fused = model.kernel()
        with sdpa_kernel(SDPBackend.MATH):  # an outer restriction the layer cannot know of in advance
            model(x)
            assert model.kernel() == "math"
        model(x)
    assert model.kernel() == fused


def test_kernel_before_any_forward_probes_the_parameters_device_and_dtype():
    assert SDPAAttention(16, 4, backend="math").double().kernel() == "math"
    assert SDPAAttention(16, 4, backend="flash").kernel() == "flash_cpu"


def test_unknown_backend_is_rejected_with_the_valid_names():
    for bad in ("flash2", "", 3, None):
        with pytest.raises(ModelError, match="auto, flash, efficient, cudnn, math"):
            SDPAAttention(16, 4, backend=bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error message")
def test_forcing_a_cuda_only_backend_on_cpu_raises_a_clear_model_error():
    model = SDPAAttention(16, 4, backend="efficient")
    with pytest.raises(ModelError, match="backend 'efficient' cannot run on cpu"):
        model(torch.randn(2, 5, 16))


def test_is_registered_with_its_backend_option():
    model = build("sdpa", 16, 4, causal=True, backend="math")
    assert isinstance(model, SDPAAttention) and model.backend == "math" and model.causal
    assert describe("sdpa").options["backend"][0] == "auto"
    assert set(model.state_dict()) == set(SoftmaxAttention(16, 4).state_dict())


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("backend", ["flash", "efficient", "cudnn", "math"])
def test_forcing_each_backend_on_cuda_reports_that_backend(backend):
    torch.manual_seed(9)
    naive = SoftmaxAttention(128, 2, causal=True).cuda()
    model = SDPAAttention(128, 2, causal=True, backend=backend).cuda()
    model.load_state_dict(naive.state_dict())
    x = torch.randn(2, 256, 128, device="cuda")
    with torch.no_grad():
        try:
            out = model.half()(x.half())
        except ModelError as exc:
            pytest.skip(f"this GPU/torch build cannot run {backend}: {exc}")
        assert model.kernel() == backend
        assert torch.allclose(out.float(), naive(x), rtol=1e-2, atol=1e-2)
        assert count_flops(lambda: model(x.half())) == model.flops(2, 256)


@pytest.mark.cuda
@needs_cuda
def test_forcing_a_backend_that_cannot_run_on_cuda_raises_a_clear_model_error():
    model = SDPAAttention(64, 4, backend="flash").cuda()  # flash kernels take fp16/bf16 only
    with pytest.raises(ModelError, match="backend 'flash' cannot run on cuda torch.float32"):
        model(torch.randn(2, 16, 64, device="cuda"))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_auto_backend_on_cuda_with_masks_is_finite_and_named(dtype):
    torch.manual_seed(10)
    model = SDPAAttention(64, 4, causal=True).cuda().to(dtype)
    x = torch.randn(3, 37, 64, device="cuda", dtype=dtype, requires_grad=True)
    mask = padding_mask(3, 37, seed=11).cuda()
    out = model(x, mask)
    out.float().square().sum().backward()
    assert model.kernel() in {"flash", "efficient", "cudnn", "math"}
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    ref = softmax_attention(x.detach(), model.state_dict(), 4, mask.cpu(), causal=True)
    assert rel_err(out.detach(), ref) < (1e-3 if dtype == torch.float32 else 3e-2)
