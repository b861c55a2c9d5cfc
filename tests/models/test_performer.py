"""Performer FAVOR+: equal to its float64 formula given its features, converging to softmax attention.

References are written here from the equations in float64 (no stabilisers, or in log space where inputs
are large) and share no code with models/performer.py.
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
from tests.models.reference import LargestTensor, output_projection, random_input

SHAPES = [(2, 1, 8, 2), (1, 17, 12, 3), (3, 37, 16, 4), (2, 64, 32, 1)]  # (B, N, d, h)
PROJECTIONS = ("to_q", "to_k", "to_v", "to_out")


def _build(d: int, h: int, *, causal: bool = False, chunk_size: int = 64, n_features: int | None = None,
           seed: int = 0, dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("performer", d, h, causal=causal, chunk_size=chunk_size, n_features=n_features,
                        seed=seed).to(dtype).eval()


def _mask(b: int, n: int, *, seed: int = 2) -> torch.Tensor:
    """Random keep-mask; position 0 is kept so every causal query sees at least one key."""
    mask = torch.rand(b, n, generator=torch.Generator().manual_seed(seed)) < 0.6
    mask[:, 0] = True
    return mask


@torch.no_grad()
def _projections(model: models.Attention, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k, v as (B, h, N, d_h) in float64 from the model's weights: y = x W^T + b."""
    x = x.double()
    b, n, d = x.shape
    out = []
    for layer in (model.to_q, model.to_k, model.to_v):
        y = x @ layer.weight.double().T + layer.bias.double()
        out.append(y.reshape(b, n, model.n_heads, d // model.n_heads).permute(0, 2, 1, 3))
    return tuple(out)


def _allowed(b: int, n: int, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
    allowed = torch.ones(b, 1, n, n, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(n, n, dtype=torch.bool).tril()
    return allowed


def _log_features(model: models.Attention, t: torch.Tensor) -> torch.Tensor:
    """log phi(x), x = t d_h^-1/4, phi(x) = exp(W x - |x|^2 / 2) / sqrt(m), W = the model's features."""
    w = model.features.double()
    x = t * t.shape[-1] ** -0.25
    return x @ w.T - (x * x).sum(-1, keepdim=True) / 2 - 0.5 * math.log(w.shape[0])


def _favor_reference(model: models.Attention, x: torch.Tensor, mask: torch.Tensor | None,
                     causal: bool) -> torch.Tensor:
    """FAVOR+ with the layer's W: out_i = sum_j A_ij v_j / sum_j A_ij, A_ij = phi(q_i').phi(k_j')."""
    q, k, v = _projections(model, x)
    a = torch.exp(_log_features(model, q)) @ torch.exp(_log_features(model, k)).transpose(-1, -2)
    a = a * _allowed(x.shape[0], x.shape[1], mask, causal)
    return output_projection(model, (a @ v) / a.sum(-1, keepdim=True))


def _favor_reference_log_space(model: models.Attention, x: torch.Tensor, causal: bool) -> torch.Tensor:
    """The same formula with log A_ij = logsumexp_r(log phi_r(q_i') + log phi_r(k_j')), safe for any scale."""
    q, k, v = _projections(model, x)
    log_a = torch.logsumexp(_log_features(model, q)[:, :, :, None, :]
                            + _log_features(model, k)[:, :, None, :, :], dim=-1)
    log_a = log_a.masked_fill(~_allowed(x.shape[0], x.shape[1], None, causal), -math.inf)
    return output_projection(model, torch.softmax(log_a, dim=-1) @ v)


def _softmax_reference(model: models.Attention, x: torch.Tensor, causal: bool) -> torch.Tensor:
    """Exact attention softmax(q k^T / sqrt(d_h)) v with the layer's projections."""
    q, k, v = _projections(model, x)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~_allowed(x.shape[0], x.shape[1], None, causal), -math.inf)
    return output_projection(model, torch.softmax(scores, dim=-1) @ v)


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref| (NaN anywhere gives inf, so it never passes)."""
    diff = (out.detach().double() - ref).abs().max()
    return float(torch.nan_to_num(diff / ref.abs().max(), nan=math.inf))


# --- exactness given the fixed features ---------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize(("b", "n", "d", "h"), SHAPES)
def test_matches_the_float64_favor_formula_with_its_features(b: int, n: int, d: int, h: int,
                                                             causal: bool) -> None:
    for chunk_size, n_features in ((8, None), (64, 13)):
        model = _build(d, h, causal=causal, chunk_size=chunk_size, n_features=n_features)
        x, mask = random_input(b, n, d), _mask(b, n)
        for m in (None, mask):
            with torch.no_grad():
                out = model(x, mask=m)
                out32 = copy.deepcopy(model).float()(x.float(), mask=m)
            ref = _favor_reference(model, x, m, causal)
            keep = torch.ones(b, n, dtype=torch.bool) if m is None else m
            label = f"chunk={chunk_size} m={model.n_features} mask={m is not None}"
            assert _rel_err(out[keep], ref[keep]) < 1e-10, label
            assert _rel_err(out32[keep], ref[keep]) < 1e-3, label
            assert torch.isfinite(out).all() and torch.isfinite(out32).all(), f"{label}: non-finite rows"


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_stabilisers_keep_float32_exact_for_large_inputs(causal: bool) -> None:
    # q, k coordinates with standard deviation about 6: unstabilised exponents reach about +-100,
    # beyond float32's exp range (about 88)
    model = _build(32, 4, causal=causal, chunk_size=16)
    x = 10 * random_input(2, 45, 32)
    ref = _favor_reference_log_space(model, x, causal)
    with torch.no_grad():
        logits = _log_features(model, _projections(model, x)[0])
        out32 = copy.deepcopy(model).float()(x.float())
    assert logits.abs().max() > 88, "the inputs are too small to need a stabiliser"
    assert _rel_err(out32, ref) < 1e-4


def test_non_causal_float32_stays_exact_for_very_large_inputs() -> None:
    model = _build(32, 4)
    x = 100 * random_input(2, 45, 32)
    with torch.no_grad():
        out32 = copy.deepcopy(model).float()(x.float())
    assert _rel_err(out32, _favor_reference_log_space(model, x, False)) < 1e-4


def test_queries_without_a_visible_kept_key_give_finite_outputs() -> None:
    for causal in (False, True):
        model = _build(16, 2, causal=causal, chunk_size=4)
        mask = torch.ones(2, 11, dtype=torch.bool)
        mask[0] = False
        mask[1, :6] = False
        with torch.no_grad():
            out = model(random_input(2, 11, 16), mask=mask)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[0], model.to_out.bias.expand(11, -1))


# --- approximation of softmax attention ---------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_error_against_softmax_attention_shrinks_as_features_grow(causal: bool) -> None:
    base = _build(16, 2, causal=causal)
    x = random_input(2, 32, 16)
    exact = _softmax_reference(base, x, causal)
    scale = (exact - base.to_out.bias).abs().mean()
    mean_errors = []
    for n_features in (16, 64, 256, 1024):
        errors = []
        for seed in range(5):
            model = _build(16, 2, causal=causal, n_features=n_features, seed=seed + 10)
            for name in PROJECTIONS:
                getattr(model, name).load_state_dict(getattr(base, name).state_dict())
            with torch.no_grad():
                errors.append(float((model(x) - exact).abs().mean() / scale))
        mean_errors.append(sum(errors) / len(errors))
    assert all(a > b for a, b in zip(mean_errors, mean_errors[1:], strict=False)), mean_errors
    assert mean_errors[-1] < mean_errors[0] / 3, mean_errors
    assert mean_errors[-1] < 0.1, mean_errors


# --- fixed features -----------------------------------------------------------------------------------------

def test_default_feature_count_is_d_h_ln_d_h_and_features_are_a_buffer() -> None:
    for d, h, expected in ((64, 4, 44), (256, 16, 44), (64, 1, 266), (8, 4, 1), (4, 4, 1)):
        model = models.build("performer", d, h)
        assert model.n_features == expected == max(1, math.floor((d // h) * math.log(d // h)))
        assert tuple(model.features.shape) == (expected, d // h)
        assert "features" in dict(model.named_buffers()) and "features" in model.state_dict()
        assert model.param_count() == 4 * (d * d + d), "the features must not be trainable"


def test_features_are_orthogonal_blocks_with_chi_distributed_norms() -> None:
    d_head, n_features = 16, 1000
    w = models.build("performer", 64, 4, n_features=n_features).features.double()
    norms = w.norm(dim=1)
    for start in range(0, n_features, d_head):
        block = w[start:start + d_head] / norms[start:start + d_head, None]
        gram = block @ block.T
        torch.testing.assert_close(gram, torch.eye(len(block), dtype=gram.dtype), atol=1e-6, rtol=0)
    # squared norms ~ chi^2(16): mean 16, variance 32; the mean of 1000 has a standard error of 0.18
    assert abs(norms.square().mean() - d_head) < 1.0
    assert abs(norms.square().var() - 2 * d_head) < 8.0


def test_features_are_fixed_by_the_seed_and_never_redrawn() -> None:
    a, b, c = (models.build("performer", 32, 4, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.features, b.features)
    assert not torch.allclose(a.features, c.features)
    model = _build(32, 4, causal=True).train()
    x = random_input(2, 21, 32)
    before = model.features.clone()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)
    assert torch.equal(model.features, before)


def test_state_dict_round_trip_restores_features_and_outputs() -> None:
    source = _build(32, 4, seed=1)
    target = _build(32, 4, seed=2)
    assert not torch.allclose(source.features, target.features)
    target.load_state_dict(source.state_dict())
    x = random_input(2, 9, 32)
    assert torch.equal(target.features, source.features)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


# --- masks, causality, symmetry -----------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_changing_padded_tokens_does_not_change_kept_outputs(causal: bool) -> None:
    model = _build(16, 4, causal=causal, chunk_size=5)
    x, mask = random_input(3, 23, 16), _mask(3, 23)
    changed = torch.where(mask[..., None], x, 3 * random_input(3, 23, 16, seed=7))
    with torch.no_grad():
        out, out_changed, out_unmasked = model(x, mask=mask), model(changed, mask=mask), model(changed)
    torch.testing.assert_close(out_changed[mask], out[mask], rtol=1e-12, atol=1e-12)
    assert (out_unmasked[mask] - out[mask]).abs().max() > 1e-3, "the mask has no effect"


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_nan_or_inf_in_padded_tokens_does_not_reach_kept_outputs(causal: bool) -> None:
    model = _build(16, 4, causal=causal, chunk_size=5)
    x, mask = random_input(2, 17, 16), _mask(2, 17)
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
        # the key stabiliser spans the sequence: it cancels exactly, so only rounding may differ
        torch.testing.assert_close(out_changed[:, :cut], out[:, :cut], rtol=1e-12, atol=1e-12)
        assert (out_changed[:, cut:] - out[:, cut:]).abs().max() > 1e-3


def test_non_causal_layer_is_permutation_equivariant() -> None:
    model = _build(16, 4)
    x, mask = random_input(2, 15, 16), _mask(2, 15)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, out_perm = model(x, mask=mask), model(x[:, perm], mask=mask[:, perm])
    torch.testing.assert_close(out_perm, out[:, perm], rtol=1e-10, atol=1e-10)


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
    x, mask = random_input(b, n, d), _mask(b, n)
    with torch.no_grad(), _LongestContraction() as probe:
        out = model(x, mask=mask)
    assert probe.longest == SPLIT_TOKENS
    assert _rel_err(out[mask], _favor_reference(model, x, mask, causal=False)[mask]) < 1e-10
    model32, x32 = copy.deepcopy(model).float(), x.float()
    assert count_flops(lambda: model32(x32)) == model32.flops(b, n)


# --- FLOPs -------------------------------------------------------------------------------------------------

FLOP_CASES = [(2, 7, 16, 2, 64, None), (1, 64, 32, 4, 8, None), (3, 1, 16, 4, 64, 5), (2, 37, 12, 3, 8, None),
              (1, 37, 8, 1, 1, 20), (1, 100, 16, 2, 64, None), (2, 129, 32, 8, 16, 7)]  # (B, N, d, h, C, m)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_flops_equal_the_flop_counter_exactly(causal: bool) -> None:
    for b, n, d, h, c, m in FLOP_CASES:
        model = _build(d, h, causal=causal, chunk_size=c, n_features=m, dtype=torch.float32)
        x = random_input(b, n, d, dtype=torch.float32)
        counted = count_flops(lambda: model(x))  # noqa: B023 - called immediately
        assert model.flops(b, n) == counted, f"B={b} N={n} d={d} h={h} chunk={c} m={model.n_features}"


def test_flops_follow_the_reference_table_and_the_documented_causal_form() -> None:
    for b, n, d, h, c, m in FLOP_CASES:
        dh = d // h
        full = _build(d, h, n_features=m)
        m = full.n_features
        projections = 8 * b * n * d * d
        assert full.flops(b, n) == projections + 8 * b * n * m * d + 2 * b * h * n * m
        cc = min(c, n)
        n_pad = math.ceil(n / cc) * cc
        expected = (projections + 4 * b * n * m * d + 4 * b * n_pad * m * d + 2 * b * h * n_pad * m
                    + 2 * b * n_pad * cc * (h * m + h * dh))
        assert _build(d, h, causal=True, chunk_size=c, n_features=m).flops(b, n) == expected


def test_elementwise_estimate_adds_work_that_grows_linearly_in_n() -> None:
    for causal in (False, True):
        model = _build(32, 4, causal=causal)
        extra = [model.flops(2, n, elementwise=True) - model.flops(2, n) for n in (256, 512, 1024)]
        assert extra[0] > 0
        assert extra[1] == 2 * extra[0] and extra[2] == 4 * extra[0]


# --- memory of the causal form -----------------------------------------------------------------------------

def test_causal_form_never_builds_per_position_states() -> None:
    b, n, d, h = 1, 8192, 64, 4
    model = _build(d, h, causal=True, dtype=torch.float32)
    m, dh = model.n_features, d // h
    x = random_input(b, n, d, dtype=torch.float32)
    with torch.no_grad(), LargestTensor() as probe:
        out = model(x)
    assert torch.isfinite(out).all()
    # linear in N: the (B, h, N, m) features (1.4 M), the chunk scores B h N C (2.1 M) or x itself
    assert probe.largest <= max(b * h * n * m, b * h * n * model.chunk_size, b * n * d), probe.largest
    per_position_states = b * h * n * m * dh          # 23 M elements
    assert probe.largest * 10 <= per_position_states


# --- gradients, precision, options --------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_backward_gives_finite_gradients_and_leaves_the_features_alone(causal: bool) -> None:
    model = _build(16, 2, causal=causal, chunk_size=4, dtype=torch.float32).train()
    x = random_input(2, 13, 16, dtype=torch.float32).requires_grad_()
    mask = _mask(2, 13)
    mask[1] = False
    model(x, mask=mask)[mask].square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert not model.features.requires_grad


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_bfloat16_forward_is_within_five_percent_of_float64(causal: bool) -> None:
    model = _build(32, 4, causal=causal, chunk_size=16)
    x, mask = random_input(2, 45, 32), _mask(2, 45)
    ref = _favor_reference(model, x, mask, causal)
    with torch.no_grad():
        out = copy.deepcopy(model).to(torch.bfloat16)(x.bfloat16(), mask=mask)
    assert out.dtype == torch.bfloat16
    assert _rel_err(out[mask], ref[mask]) < 5e-2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "16"])
def test_a_bad_feature_count_is_a_model_error(bad: object) -> None:
    with pytest.raises(ModelError, match="n_features must be a positive integer or None"):
        models.build("performer", 16, 2, n_features=bad)


@pytest.mark.parametrize(("option", "bad", "words"), [
    ("chunk_size", 0, "chunk_size must be a positive integer"),
    ("chunk_size", 1.5, "chunk_size must be a positive integer"),
    ("seed", -1, "seed must be a non-negative integer"),
    ("seed", "7", "seed must be a non-negative integer"),
])
def test_a_bad_chunk_size_or_seed_is_a_model_error(option: str, bad: object, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        models.build("performer", 16, 2, causal=True, **{option: bad})


def test_registered_with_its_options_and_the_documented_state_dict_layout() -> None:
    info = models.describe("performer")
    assert info.supports_causal
    assert {k: v[0] for k, v in info.options.items()} == {"n_features": None, "seed": 0, "chunk_size": 64}
    assert all(help_text for _, help_text in info.options.values())
    model = models.build("performer", 32, 4)
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    expected = {f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                for p in PROJECTIONS for w in ("weight", "bias")}
    assert shapes == {**expected, "features": (model.n_features, 8)}
