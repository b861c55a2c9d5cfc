"""Nyströmformer: equal to its equations in float64, exact softmax attention at L <= m, padding invisible.

The reference is written here from the paper's equations, one batch row at a time over its kept tokens
(segments by their ceil(s L / m) boundaries, explicit identity matrices), in float64, and shares no code
with models/nystromformer.py.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.nystromformer import iterative_pinv, segment_ids
from tests.models.reference import output_projection, projections, random_input, random_mask

SHAPES = [(2, 1, 8, 2), (1, 17, 12, 3), (3, 37, 16, 4), (2, 64, 32, 1)]  # (B, N, d, h)


def _build(d: int, h: int, *, n_landmarks: int = 64, pinv_iterations: int = 6, seed: int = 0,
           dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("nystromformer", d, h, n_landmarks=n_landmarks,
                        pinv_iterations=pinv_iterations).to(dtype).eval()


def _softmax(s: torch.Tensor) -> torch.Tensor:
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def _reference(model: models.Attention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per row over its L kept tokens: softmax attention if L <= m, else F Z B v with Z from the iteration.

    Landmark s is the mean of kept tokens [ceil(s L / m), ceil((s + 1) L / m)); padded rows give 0.
    """
    q, k, v = projections(model, x)
    b, h, n, dh = q.shape
    m, iterations = model.n_landmarks, model.pinv_iterations
    out = torch.zeros_like(q)
    for row in range(b):
        kept = torch.arange(n) if mask is None else mask[row].nonzero().flatten()
        length = len(kept)
        if length == 0:
            continue
        qs, ks, vs = q[row][:, kept] / math.sqrt(dh), k[row][:, kept], v[row][:, kept]
        if length <= m:
            out[row][:, kept] = _softmax(qs @ ks.mT) @ vs
            continue
        bounds = [math.ceil(s * length / m) for s in range(m + 1)]
        q_land = torch.stack([qs[:, bounds[s]:bounds[s + 1]].mean(dim=1) for s in range(m)], dim=1)
        k_land = torch.stack([ks[:, bounds[s]:bounds[s + 1]].mean(dim=1) for s in range(m)], dim=1)
        f, a, b_kernel = _softmax(qs @ k_land.mT), _softmax(q_land @ k_land.mT), _softmax(q_land @ ks.mT)
        eye = torch.eye(m, dtype=torch.float64)
        norm_1 = a.sum(dim=1).max(dim=-1).values          # largest column sum, per head
        norm_inf = a.sum(dim=2).max(dim=-1).values        # largest row sum (1 for a softmax)
        z = a.mT / (norm_1 * norm_inf)[:, None, None]
        for _ in range(iterations):
            az = a @ z
            z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
        out[row][:, kept] = f @ z @ b_kernel @ vs
    return output_projection(model, out)


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref| (NaN anywhere gives inf, so it never passes)."""
    diff = (out.double() - ref).abs().max()
    return float(torch.nan_to_num(diff / ref.abs().max(), nan=math.inf))


def _softmax_twin(model: models.Attention) -> models.Attention:
    """The `softmax` layer with this layer's weights (same state_dict layout)."""
    twin = models.build("softmax", model.d_model, model.n_heads).double().eval()
    twin.load_state_dict(model.state_dict())
    return twin


# --- correctness against the equations ---------------------------------------------------------------------

@pytest.mark.parametrize(("b", "n", "d", "h"), SHAPES)
def test_matches_the_float64_equations_with_and_without_a_mask(b: int, n: int, d: int, h: int) -> None:
    for n_landmarks in (4, 5, 64):
        model = _build(d, h, n_landmarks=n_landmarks)
        x, mask = random_input(b, n, d), random_mask(b, n)
        for m in (None, mask):
            with torch.no_grad():
                out = model(x, mask=m)
                out32 = copy.deepcopy(model).float()(x.float(), mask=m)
            ref = _reference(model, x, m)
            label = f"m={n_landmarks} mask={m is not None}"
            assert _rel_err(out, ref) < 1e-10, label
            assert _rel_err(out32, ref) < 1e-3, label
            assert torch.isfinite(out).all() and torch.isfinite(out32).all(), label


def test_segments_are_near_equal_runs_of_kept_tokens_and_padding_joins_none() -> None:
    assert segment_ids(None, 12, 4, torch.device("cpu")).tolist() == [[0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]]
    assert segment_ids(None, 7, 3, torch.device("cpu")).tolist() == [[0, 0, 0, 1, 1, 2, 2]]
    mask = torch.tensor([[True, False, True, True, False, True, True]])
    assert segment_ids(mask, 7, 2, torch.device("cpu")).tolist() == [[0, 2, 0, 0, 2, 1, 1]]


def test_iterative_pinv_converges_to_the_moore_penrose_inverse_also_when_singular() -> None:
    gen = torch.Generator().manual_seed(4)
    a = torch.softmax(2 * torch.randn(3, 6, 6, generator=gen, dtype=torch.float64), dim=-1)
    singular = a.clone()
    singular[:, 5] = singular[:, 4]      # repeated rows: rank 5, no inverse, pinv still defined
    for matrix in (a, singular):
        # 12 steps: converged here (cond(A) ~ 20-30), and before null-space rounding grows (13/4 per step)
        assert _rel_err(iterative_pinv(matrix, 12), torch.linalg.pinv(matrix)) < 1e-9
    assert _rel_err(iterative_pinv(a, 1), torch.linalg.pinv(a)) > 1e-2, "one step should not converge"


# --- exact softmax attention when L <= m, and the approach to it ------------------------------------------

@pytest.mark.parametrize(("n", "n_landmarks"), [(1, 64), (9, 9), (40, 64), (17, 20)])
def test_equals_softmax_attention_when_n_is_at_most_the_landmark_count(n: int, n_landmarks: int) -> None:
    model = _build(16, 4, n_landmarks=n_landmarks)
    twin = _softmax_twin(model)
    x, mask = random_input(2, n, 16), random_mask(2, n)
    with torch.no_grad():
        torch.testing.assert_close(model(x), twin(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model(x, mask=mask), twin(x, mask=mask), rtol=1e-12, atol=1e-12)


def test_rows_with_at_most_m_kept_tokens_use_exact_softmax_in_a_longer_batch() -> None:
    model = _build(16, 2, n_landmarks=4)
    twin = _softmax_twin(model)
    x = random_input(4, 13, 16)
    mask = torch.zeros(4, 13, dtype=torch.bool)
    mask[0] = True                          # 13 kept: Nystrom
    mask[1, [2, 5, 6, 11]] = True           # 4 kept = m: exact
    mask[2, 7] = True                       # 1 kept: exact
    with torch.no_grad():
        out = model(x, mask=mask)
        for row in (1, 2):
            alone = twin(x[row:row + 1, mask[row]])
            torch.testing.assert_close(out[row, mask[row]], alone[0], rtol=1e-12, atol=1e-12)
        assert (out[0] - twin(x[:1])[0]).abs().max() > 1e-3, "13 kept tokens with m = 4 should approximate"
    torch.testing.assert_close(out[3], model.to_out.bias.expand(13, -1))   # nothing kept: to_out bias


def test_error_against_softmax_attention_shrinks_as_landmarks_approach_n() -> None:
    x = random_input(2, 64, 32)
    errors = []
    for n_landmarks in (4, 16, 48, 63, 64):
        model = _build(32, 4, n_landmarks=n_landmarks)
        with torch.no_grad():
            errors.append(_rel_err(model(x), _softmax_twin(model)(x).double()))
    assert errors[0] > errors[1] > errors[2] > errors[3] > 1e-4, errors
    assert errors[0] > 5 * errors[3], errors
    assert errors[4] < 1e-12, errors


# --- masks -------------------------------------------------------------------------------------------------

def test_kept_outputs_equal_a_run_on_the_kept_tokens_alone_wherever_the_padding_sits() -> None:
    model = _build(16, 2, n_landmarks=3)
    x = random_input(3, 21, 16)
    mask = random_mask(3, 21, seed=5)
    mask[2, :10] = False                    # left padding too
    with torch.no_grad():
        out = model(x, mask=mask)
        for row in range(3):
            assert int(mask[row].sum()) > 3
            alone = model(x[row:row + 1, mask[row]])
            torch.testing.assert_close(out[row, mask[row]], alone[0], rtol=1e-10, atol=1e-10)


def test_nan_or_inf_in_padded_tokens_does_not_reach_kept_outputs() -> None:
    for n_landmarks in (4, 64):
        model = _build(16, 4, n_landmarks=n_landmarks)
        x, mask = random_input(2, 17, 16), random_mask(2, 17)
        garbage = x.clone()
        garbage[0][~mask[0]] = float("nan")
        garbage[1][~mask[1]] = float("inf")
        with torch.no_grad():
            out, out_garbage = model(x, mask=mask), model(garbage, mask=mask)
        torch.testing.assert_close(out_garbage, out, rtol=1e-12, atol=1e-12)


# --- FLOPs -------------------------------------------------------------------------------------------------

FLOP_CASES = [(2, 7, 16, 2, 64), (1, 64, 32, 4, 8), (3, 1, 16, 4, 64), (2, 37, 12, 3, 5), (1, 9, 8, 8, 1),
              (2, 100, 16, 2, 7), (1, 12, 16, 4, 12)]  # (B, N, d, h, n_landmarks)


def test_flops_equal_the_flop_counter_exactly_and_a_mask_adds_the_exact_short_row_form() -> None:
    for b, n, d, h, m in FLOP_CASES:
        model = _build(d, h, n_landmarks=m, pinv_iterations=3, dtype=torch.float32)
        x, mask = random_input(b, n, d, dtype=torch.float32), random_mask(b, n)
        label = f"B={b} N={n} d={d} h={h} m={m}"
        assert model.flops(b, n) == count_flops(lambda: model(x)), label  # noqa: B023 - called immediately
        masked = count_flops(lambda: model(x, mask=mask))  # noqa: B023 - called immediately
        assert masked == model.flops(b, n) + (4 * b * n * m * d if n > m else 0), label


def test_flops_follow_the_documented_formula_and_grow_linearly_beyond_m() -> None:
    b, d, h, m, iters = 2, 32, 4, 8, 6
    model = _build(d, h, n_landmarks=m, pinv_iterations=iters)
    assert model.flops(b, m) == 8 * b * m * d * d + 4 * b * m * m * d
    n = 100
    assert model.flops(b, n) == 8 * b * n * d * d + 8 * b * n * m * d + 4 * b * m * m * d + 8 * b * h * m ** 3 * iters
    for elementwise in (False, True):
        cost = [model.flops(b, n, elementwise=elementwise) for n in (256, 512, 1024)]
        assert cost[2] - cost[1] == 2 * (cost[1] - cost[0]) > 0
    assert model.flops(b, n, elementwise=True) > model.flops(b, n)


# --- gradients, precision, options --------------------------------------------------------------------------

def test_backward_gives_finite_gradients_for_every_parameter() -> None:
    for n_landmarks in (3, 64):
        model = _build(16, 2, n_landmarks=n_landmarks, dtype=torch.float32).train()
        x = random_input(3, 13, 16, dtype=torch.float32).requires_grad_()
        mask = random_mask(3, 13)
        mask[2, 2:] = False                 # a short row: exact form inside a Nystrom batch
        model(x, mask=mask)[mask].square().mean().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        for name, param in model.named_parameters():
            assert param.grad is not None and torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize("n_landmarks", [4, 64])
def test_bfloat16_forward_is_within_three_percent_of_float64(n_landmarks: int) -> None:
    model = _build(32, 4, n_landmarks=n_landmarks)
    x, mask = random_input(2, 45, 32), random_mask(2, 45)
    ref = _reference(model, x, mask)
    with torch.no_grad():
        out = model.to(torch.bfloat16)(x.bfloat16(), mask=mask)
    assert out.dtype == torch.bfloat16
    assert _rel_err(out, ref) < 3e-2


@pytest.mark.parametrize("option", ["n_landmarks", "pinv_iterations"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "64"])
def test_a_bad_option_is_a_model_error(option: str, bad: object) -> None:
    with pytest.raises(ModelError, match=f"{option} must be a positive integer"):
        models.build("nystromformer", 16, 2, **{option: bad})


def test_has_no_causal_form() -> None:
    with pytest.raises(ModelError, match="no causal form"):
        models.build("nystromformer", 16, 2, causal=True)


def test_registered_with_its_options_and_the_documented_state_dict_layout() -> None:
    info = models.describe("nystromformer")
    assert not info.supports_causal
    assert info.options["n_landmarks"][0] == 64 and info.options["pinv_iterations"][0] == 6
    assert all(help_text for _, help_text in info.options.values())
    model = models.build("nystromformer", 32, 4)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes == {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                      for p in ("to_q", "to_k", "to_v", "to_out") for w in ("weight", "bias")}
