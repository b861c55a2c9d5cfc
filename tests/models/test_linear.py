"""Linear attention (elu+1): equal to its equations in float64, chunked causal form equal to prefix sums.

References are written here from the equations (quadratic attention matrix, or per-position cumulative
states) in float64 and share no code with models/linear.py.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.linear import SPLIT_TOKENS, key_value_summary
from tests.models.reference import LargestTensor, output_projection, projections, random_input, random_mask

EPS = 1e-6
SHAPES = [(2, 1, 8, 2), (1, 17, 12, 3), (3, 37, 16, 4), (2, 64, 32, 1)]  # (B, N, d, h)


def _build(d: int, h: int, *, causal: bool = False, chunk_size: int = 64, seed: int = 0,
           dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("linear", d, h, causal=causal, chunk_size=chunk_size).to(dtype).eval()


def _reference(model: models.Attention, x: torch.Tensor, mask: torch.Tensor | None,
               causal: bool) -> torch.Tensor:
    """out_i = sum_j A_ij v_j / (sum_j A_ij + eps), A_ij = phi(q_i).phi(k_j) over allowed (kept, j <= i)."""
    q, k, v = projections(model, x)
    n = x.shape[1]
    phi_q = torch.where(q > 0, q + 1, torch.exp(q))
    phi_k = torch.where(k > 0, k + 1, torch.exp(k))
    allowed = torch.ones(x.shape[0], 1, n, n, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(n, n, dtype=torch.bool).tril()
    a = (phi_q @ phi_k.transpose(-1, -2)) * allowed
    return output_projection(model, (a @ v) / (a.sum(-1, keepdim=True) + EPS))


def _prefix_sum_reference(model: models.Attention, x: torch.Tensor) -> torch.Tensor:
    """Causal form via per-position states S_i = sum_{j<=i} phi(k_j) v_j^T, z_i = sum_{j<=i} phi(k_j)."""
    q, k, v = projections(model, x)
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    states = torch.cumsum(phi_k[..., :, None] * v[..., None, :], dim=2)
    sums = torch.cumsum(phi_k, dim=2)
    num = torch.einsum("bhnm,bhnme->bhne", phi_q, states)
    den = (phi_q * sums).sum(-1, keepdim=True)
    return output_projection(model, num / (den + EPS))


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref| (NaN anywhere gives inf, so it never passes)."""
    diff = (out.double() - ref).abs().max()
    return float(torch.nan_to_num(diff / ref.abs().max(), nan=math.inf))


# --- correctness against the equations ---------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("b", "n", "d", "h"), SHAPES)
def test_matches_the_float64_equations_with_and_without_a_mask(b: int, n: int, d: int, h: int,
                                                              causal: bool) -> None:
    for chunk_size in (8, 64):
        model = _build(d, h, causal=causal, chunk_size=chunk_size)
        x, mask = random_input(b, n, d), random_mask(b, n)
        for m in (None, mask):
            with torch.no_grad():
                out = model(x, mask=m)
                out32 = copy.deepcopy(model).float()(x.float(), mask=m)
            ref = _reference(model, x, m, causal)
            keep = torch.ones(b, n, dtype=torch.bool) if m is None else m
            label = f"chunk={chunk_size} mask={m is not None}"
            assert _rel_err(out[keep], ref[keep]) < 1e-10, label
            assert _rel_err(out32[keep], ref[keep]) < 1e-3, label
            assert torch.isfinite(out).all() and torch.isfinite(out32).all(), f"{label}: non-finite rows"


@pytest.mark.parametrize("chunk_size", [1, 8, 37, 64])
def test_causal_chunked_form_equals_per_position_prefix_sums(chunk_size: int) -> None:
    model = _build(16, 2, causal=True, chunk_size=chunk_size)
    x = random_input(2, 37, 16)
    with torch.no_grad():
        out = model(x)
    assert _rel_err(out, _prefix_sum_reference(model, x)) < 1e-12


def test_queries_without_a_visible_kept_key_give_finite_outputs() -> None:
    for causal in (False, True):
        model = _build(16, 2, causal=causal, chunk_size=4)
        mask = torch.ones(2, 11, dtype=torch.bool)
        mask[0] = False
        mask[1, :6] = False
        with torch.no_grad():
            out = model(random_input(2, 11, 16), mask=mask)
        assert torch.isfinite(out).all()
        # with nothing to attend to, the attention output is 0 and the layer returns the to_out bias
        torch.testing.assert_close(out[0], model.to_out.bias.expand(11, -1))


# --- masks, causality, symmetry -----------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_changing_padded_tokens_does_not_change_kept_outputs(causal: bool) -> None:
    model = _build(16, 4, causal=causal, chunk_size=5)
    x, mask = random_input(3, 23, 16), random_mask(3, 23)
    changed = torch.where(mask[..., None], x, 10 * random_input(3, 23, 16, seed=7))
    with torch.no_grad():
        out, out_changed, out_unmasked = model(x, mask=mask), model(changed, mask=mask), model(changed)
    torch.testing.assert_close(out_changed[mask], out[mask], rtol=1e-12, atol=1e-12)
    assert (out_unmasked[mask] - out[mask]).abs().max() > 1e-3, "the mask has no effect"


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_nan_or_inf_in_padded_tokens_does_not_reach_kept_outputs(causal: bool) -> None:
    model = _build(16, 4, causal=causal, chunk_size=5)
    x, mask = random_input(2, 17, 16), random_mask(2, 17)
    garbage = x.clone()
    garbage[0][~mask[0]] = float("nan")
    garbage[1][~mask[1]] = float("inf")
    with torch.no_grad():
        out, out_garbage = model(x, mask=mask), model(garbage, mask=mask)
    torch.testing.assert_close(out_garbage[mask], out[mask], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 4, 64])
def test_causal_outputs_do_not_depend_on_later_tokens(chunk_size: int) -> None:
    model = _build(16, 2, causal=True, chunk_size=chunk_size)
    x = random_input(2, 19, 16)
    for cut in (1, 4, 9, 18):
        changed = torch.cat([x[:, :cut], random_input(2, 19 - cut, 16, seed=cut)], dim=1)
        with torch.no_grad():
            out, out_changed = model(x), model(changed)
        torch.testing.assert_close(out_changed[:, :cut], out[:, :cut], rtol=1e-12, atol=1e-12)
        assert (out_changed[:, cut:] - out[:, cut:]).abs().max() > 1e-3


def test_non_causal_layer_is_permutation_equivariant() -> None:
    model = _build(16, 4)
    x, mask = random_input(2, 15, 16), random_mask(2, 15)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, out_perm = model(x, mask=mask), model(x[:, perm], mask=mask[:, perm])
    torch.testing.assert_close(out_perm, out[:, perm], rtol=1e-10, atol=1e-10)


# --- FLOPs -------------------------------------------------------------------------------------------------

FLOP_CASES = [(2, 7, 16, 2, 64), (1, 64, 32, 4, 8), (3, 1, 16, 4, 64), (2, 37, 12, 3, 8), (1, 37, 8, 1, 1),
              (1, 100, 16, 2, 64), (2, 129, 32, 8, 16)]  # (B, N, d, h, chunk)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_flops_equal_the_flop_counter_exactly(causal: bool) -> None:
    for b, n, d, h, c in FLOP_CASES:
        model = _build(d, h, causal=causal, chunk_size=c, dtype=torch.float32)
        x = random_input(b, n, d, dtype=torch.float32)
        counted = count_flops(lambda: model(x))  # noqa: B023 - called immediately
        assert model.flops(b, n) == counted, f"B={b} N={n} d={d} h={h} chunk={c}"


def test_flops_follow_the_reference_table() -> None:
    for b, n, d, h, c in FLOP_CASES:
        dh = d // h
        projections = 8 * b * n * d * d
        assert _build(d, h).flops(b, n) == projections + 4 * b * n * d * dh + 2 * b * n * d
        # causal: the table's P + 4 B N d d_h + 4 B N C d, plus the normaliser 2 B N d, on N rounded up
        # to a multiple of C' = min(C, N)
        cc = min(c, n)
        n_pad = math.ceil(n / cc) * cc
        expected = projections + 4 * b * n_pad * d * dh + 4 * b * n_pad * cc * d + 2 * b * n_pad * d
        assert _build(d, h, causal=True, chunk_size=c).flops(b, n) == expected


def test_elementwise_estimate_adds_work_that_grows_linearly_in_n() -> None:
    for causal in (False, True):
        model = _build(32, 4, causal=causal)
        extra = [model.flops(2, n, elementwise=True) - model.flops(2, n) for n in (256, 512, 1024)]
        assert extra[0] > 0
        assert extra[1] == 2 * extra[0] and extra[2] == 4 * extra[0]


# --- memory of the causal form -----------------------------------------------------------------------------

def test_causal_form_never_builds_per_position_states() -> None:
    b, n, d, h = 1, 8192, 64, 1
    model = _build(d, h, causal=True, dtype=torch.float32)
    x = random_input(b, n, d, dtype=torch.float32)
    with torch.no_grad(), LargestTensor() as probe:
        out = model(x)
    assert torch.isfinite(out).all()
    per_position_states = b * h * n * (d // h) ** 2   # 33.5 M elements
    assert probe.largest <= b * n * d, f"largest intermediate {probe.largest} exceeds B N d = {b * n * d}"
    assert probe.largest * 64 <= per_position_states


# --- long-K products are split -----------------------------------------------------------------------------

class _LongestContraction(TorchDispatchMode):
    """Records the largest contraction length K of any mm / bmm an aten op runs."""

    def __init__(self) -> None:
        super().__init__()
        self.longest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten.mm.default, torch.ops.aten.bmm.default):
            self.longest = max(self.longest, args[0].shape[-1])
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 23])
def test_key_value_summary_and_its_gradients_equal_the_float64_sum_over_all_tokens(b: int, n: int) -> None:
    h, m, e = 2, 3, 5
    gen = torch.Generator().manual_seed(n)
    phi_k = torch.rand(b, n, h, m, generator=gen, dtype=torch.float64).transpose(1, 2)  # split_heads layout
    v = torch.randn(b, h, n, e, generator=gen, dtype=torch.float64)
    phi_k.requires_grad_()
    v.requires_grad_()
    weights = torch.randn(b, h, m, e, generator=gen, dtype=torch.float64)
    ref = torch.einsum("bhnm,bhne->bhme", phi_k, v)
    ref_grads = torch.autograd.grad((ref * weights).sum(), (phi_k, v))
    with _LongestContraction() as probe:
        kv = key_value_summary(phi_k, v, split_tokens=4)
    assert probe.longest <= (4 if n >= 8 else n)
    assert torch.allclose(kv, ref, rtol=1e-12, atol=1e-12)
    for grad, ref_grad in zip(torch.autograd.grad((kv * weights).sum(), (phi_k, v)), ref_grads, strict=True):
        assert torch.allclose(grad, ref_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("b", [1, 2])
def test_long_inputs_split_k_and_keep_outputs_and_flops_exact(b: int) -> None:
    n, d, h = 2 * SPLIT_TOKENS + 5, 8, 2   # two full chunks and a tail
    model = _build(d, h)
    x, mask = random_input(b, n, d), random_mask(b, n)
    with torch.no_grad(), _LongestContraction() as probe:
        out = model(x, mask=mask)
    assert probe.longest == SPLIT_TOKENS
    assert _rel_err(out[mask], _reference(model, x, mask, causal=False)[mask]) < 1e-10
    model32, x32 = copy.deepcopy(model).float(), x.float()
    assert count_flops(lambda: model32(x32)) == model32.flops(b, n)


# --- gradients, precision, options --------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_backward_gives_finite_gradients_for_every_parameter(causal: bool) -> None:
    model = _build(16, 2, causal=causal, chunk_size=4, dtype=torch.float32).train()
    x = random_input(2, 13, 16, dtype=torch.float32).requires_grad_()
    mask = random_mask(2, 13)
    model(x, mask=mask)[mask].square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_bfloat16_forward_is_within_three_percent_of_float64(causal: bool) -> None:
    model = _build(32, 4, causal=causal, chunk_size=16)
    x, mask = random_input(2, 45, 32), random_mask(2, 45)
    ref = _reference(model, x, mask, causal)
    with torch.no_grad():
        out = model.to(torch.bfloat16)(x.bfloat16(), mask=mask)
    assert out.dtype == torch.bfloat16
    assert _rel_err(out[mask], ref[mask]) < 3e-2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_a_bad_chunk_size_is_a_model_error(bad: object) -> None:
    with pytest.raises(ModelError, match="chunk_size must be a positive integer"):
        models.build("linear", 16, 2, causal=True, chunk_size=bad)


def test_registered_with_its_option_and_the_documented_state_dict_layout() -> None:
    info = models.describe("linear")
    assert info.supports_causal and info.options["chunk_size"][0] == 64 and info.options["chunk_size"][1]
    model = models.build("linear", 32, 4)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes == {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                      for p in ("to_q", "to_k", "to_v", "to_out") for w in ("weight", "bias")}
