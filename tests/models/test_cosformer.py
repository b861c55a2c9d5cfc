"""cosFormer: equal to its equations in float64, chunked causal form equal to prefix states, padding invisible.

The references are written here in float64 from the paper's similarity relu(q_i).relu(k_j) cos(pi (i-j)/2M)
(quadratic, undecomposed) and from per-position cumulative states of the cos/sin features; they share no
code with models/cosformer.py or models/linear.py.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.linear import SPLIT_TOKENS
from tests.models.reference import output_projection, projections, random_input, random_mask

EPS = 1e-6
SHAPES = [(2, 1, 8, 2), (1, 17, 12, 3), (3, 37, 16, 4), (2, 64, 32, 1)]  # (B, N, d, h)


def _build(d: int, h: int, *, causal: bool = False, chunk_size: int = 64, seed: int = 0,
           dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("cosformer", d, h, causal=causal, chunk_size=chunk_size).to(dtype).eval()


def _reference(model: models.Attention, x: torch.Tensor, mask: torch.Tensor | None,
               causal: bool) -> torch.Tensor:
    """Per row over its L kept tokens (positions 0..L-1, M = L): out_i = sum_j s_ij v_j / (sum_j s_ij + eps).

    s_ij = relu(q_i).relu(k_j) cos(pi (i - j) / 2M) over j (j <= i when causal); padded rows give 0.
    """
    q, k, v = projections(model, x)
    b, h, n, dh = q.shape
    out = torch.zeros_like(q)
    for row in range(b):
        kept = torch.arange(n) if mask is None else mask[row].nonzero().flatten()
        length = len(kept)
        if length == 0:
            continue
        pos = torch.arange(length, dtype=torch.float64)
        weight = torch.cos(math.pi * (pos[:, None] - pos[None, :]) / (2 * length))
        if causal:
            weight = weight * torch.ones(length, length, dtype=torch.float64).tril()
        s = (q[row][:, kept].clamp_min(0) @ k[row][:, kept].clamp_min(0).mT) * weight
        out[row][:, kept] = (s @ v[row][:, kept]) / (s.sum(dim=-1, keepdim=True) + EPS)
    return output_projection(model, out)


def _prefix_state_reference(model: models.Attention, x: torch.Tensor) -> torch.Tensor:
    """Causal form from per-position states S_i = sum_{j<=i} phi(k_j) v_j^T, z_i = sum_{j<=i} phi(k_j),
    phi(t_i) = [relu(t_i) cos(pi i / 2N), relu(t_i) sin(pi i / 2N)]."""
    q, k, v = projections(model, x)
    n = x.shape[1]
    angle = (math.pi * torch.arange(n, dtype=torch.float64) / (2 * n))[:, None]
    phi_q = torch.cat([q.clamp_min(0) * torch.cos(angle), q.clamp_min(0) * torch.sin(angle)], dim=-1)
    phi_k = torch.cat([k.clamp_min(0) * torch.cos(angle), k.clamp_min(0) * torch.sin(angle)], dim=-1)
    states = torch.cumsum(phi_k[..., :, None] * v[..., None, :], dim=2)
    sums = torch.cumsum(phi_k, dim=2)
    num = (phi_q[..., :, None] * states).sum(dim=-2)
    den = (phi_q * sums).sum(dim=-1, keepdim=True)
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
            label = f"chunk={chunk_size} mask={m is not None}"
            assert _rel_err(out, ref) < 1e-10, label
            assert _rel_err(out32, ref) < 1e-3, label
            assert torch.isfinite(out).all() and torch.isfinite(out32).all(), label


@pytest.mark.parametrize("chunk_size", [1, 8, 37, 64])
def test_causal_chunked_form_equals_per_position_prefix_states(chunk_size: int) -> None:
    model = _build(16, 2, causal=True, chunk_size=chunk_size)
    x = random_input(2, 37, 16)
    with torch.no_grad():
        out = model(x)
    assert _rel_err(out, _prefix_state_reference(model, x)) < 1e-12


def test_a_zero_normaliser_gives_output_zero_through_eps() -> None:
    for causal in (False, True):
        model = _build(16, 2, causal=causal, chunk_size=4)
        with torch.no_grad():
            model.to_q.bias.fill_(-1e3)        # relu(q) = 0 for every query
            out = model(random_input(2, 11, 16), mask=random_mask(2, 11))
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, model.to_out.bias.expand(2, 11, -1))


# --- masks, causality, positions ---------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_kept_outputs_equal_a_run_on_the_kept_tokens_alone_wherever_the_padding_sits(causal: bool) -> None:
    model = _build(16, 2, causal=causal, chunk_size=4)
    x = random_input(3, 21, 16)
    mask = random_mask(3, 21, seed=5)
    mask[2, :10] = False                    # left padding too
    with torch.no_grad():
        out = model(x, mask=mask)
        for row in range(3):
            alone = model(x[row:row + 1, mask[row]])
            torch.testing.assert_close(out[row, mask[row]], alone[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out[~mask], model.to_out.bias.expand(int((~mask).sum()), -1))


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_nan_or_inf_in_padded_tokens_does_not_reach_kept_outputs(causal: bool) -> None:
    model = _build(16, 4, causal=causal, chunk_size=5)
    x, mask = random_input(2, 17, 16), random_mask(2, 17)
    garbage = x.clone()
    garbage[0][~mask[0]] = float("nan")
    garbage[1][~mask[1]] = float("inf")
    with torch.no_grad():
        out, out_garbage = model(x, mask=mask), model(garbage, mask=mask)
    torch.testing.assert_close(out_garbage, out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 4, 64])
def test_causal_outputs_do_not_depend_on_later_tokens_but_m_is_the_whole_length(chunk_size: int) -> None:
    model = _build(16, 2, causal=True, chunk_size=chunk_size)
    x = random_input(2, 19, 16)
    for cut in (1, 4, 9, 18):
        changed = torch.cat([x[:, :cut], random_input(2, 19 - cut, 16, seed=cut)], dim=1)
        with torch.no_grad():
            out, out_changed, prefix = model(x), model(changed), model(x[:, :cut])
        torch.testing.assert_close(out_changed[:, :cut], out[:, :cut], rtol=1e-12, atol=1e-12)
        assert (out_changed[:, cut:] - out[:, cut:]).abs().max() > 1e-3
        if cut > 1:   # documented: M = N, so a shorter call re-weights the same prefix differently
            assert (prefix - out[:, :cut]).abs().max() > 1e-6


def test_the_re_weighting_depends_on_positions() -> None:
    model = _build(16, 4)
    x = random_input(2, 15, 16)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, out_perm = model(x), model(x[:, perm])
    assert (out_perm - out[:, perm]).abs().max() > 1e-3, "cos(pi (i - j) / 2M) should break permutation symmetry"


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


@pytest.mark.parametrize("b", [1, 2])
def test_long_inputs_split_k_and_keep_outputs_and_flops_exact(b: int) -> None:
    n, d, h = 2 * SPLIT_TOKENS + 5, 8, 2   # two full chunks of the key-value summary and a tail
    model = _build(d, h)
    x, mask = random_input(b, n, d), random_mask(b, n)
    with torch.no_grad(), _LongestContraction() as probe:
        out = model(x, mask=mask)
    assert probe.longest == SPLIT_TOKENS
    assert _rel_err(out[mask], _reference(model, x, mask, causal=False)[mask]) < 1e-10
    model32, x32 = copy.deepcopy(model).float(), x.float()
    assert count_flops(lambda: model32(x32)) == model32.flops(b, n)


# --- FLOPs -------------------------------------------------------------------------------------------------

FLOP_CASES = [(2, 7, 16, 2, 64), (1, 64, 32, 4, 8), (3, 1, 16, 4, 64), (2, 37, 12, 3, 8), (1, 37, 8, 8, 1),
              (1, 100, 16, 2, 64), (2, 129, 32, 8, 16)]  # (B, N, d, h, chunk)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_flops_equal_the_flop_counter_exactly(causal: bool) -> None:
    for b, n, d, h, c in FLOP_CASES:
        model = _build(d, h, causal=causal, chunk_size=c, dtype=torch.float32)
        x, mask = random_input(b, n, d, dtype=torch.float32), random_mask(b, n)
        label = f"B={b} N={n} d={d} h={h} chunk={c}"
        assert model.flops(b, n) == count_flops(lambda: model(x)), label  # noqa: B023 - called immediately
        assert model.flops(b, n) == count_flops(lambda: model(x, mask=mask)), label  # noqa: B023


def test_flops_follow_the_documented_formula() -> None:
    for b, n, d, h, c in FLOP_CASES:
        dh = d // h
        projections = 8 * b * n * d * d
        assert _build(d, h).flops(b, n) == projections + 8 * b * n * d * dh + 4 * b * n * d
        cc = min(c, n)
        n_pad = math.ceil(n / cc) * cc
        expected = projections + 8 * b * n_pad * d * dh + 6 * b * n_pad * cc * d + 4 * b * n_pad * d
        assert _build(d, h, causal=True, chunk_size=c).flops(b, n) == expected


def test_elementwise_estimate_adds_work_that_grows_linearly_in_n() -> None:
    for causal in (False, True):
        model = _build(32, 4, causal=causal)
        extra = [model.flops(2, n, elementwise=True) - model.flops(2, n) for n in (256, 512, 1024)]
        assert extra[0] > 0
        assert extra[1] == 2 * extra[0] and extra[2] == 4 * extra[0]


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
    assert _rel_err(out, ref) < 3e-2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_a_bad_chunk_size_is_a_model_error(bad: object) -> None:
    with pytest.raises(ModelError, match="chunk_size must be a positive integer"):
        models.build("cosformer", 16, 2, causal=True, chunk_size=bad)


def test_registered_with_its_option_and_the_documented_state_dict_layout() -> None:
    info = models.describe("cosformer")
    assert info.supports_causal and info.options["chunk_size"][0] == 64 and info.options["chunk_size"][1]
    model = models.build("cosformer", 32, 4)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes == {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                      for p in ("to_q", "to_k", "to_v", "to_out") for w in ("weight", "bias")}
