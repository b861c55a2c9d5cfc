"""Fastformer against a float64 reference written here from the paper's equations, plus its invariants."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bench.measure.flops import count_flops
from models import ModelError, available, build, describe, fastformer
from models.fastformer import CHUNK, Fastformer
from tests.models.reference import LargestTensor

SHAPES = [(2, 1, 8, 2), (2, 7, 16, 4), (3, 33, 24, 3), (1, 5, 12, 1)]  # (batch, seq, d_model, heads)
CONFIGS = [(scorer, share_qv, causal) for scorer in ("paper", "official")
           for share_qv in (True, False) for causal in (False, True)]


def make_model(d: int, h: int, *, scorer: str = "paper", share_qv: bool = True, causal: bool = False,
               dtype: torch.dtype = torch.float64, seed: int = 0, sharpness: float = 1.5) -> Fastformer:
    """A layer with fresh random weights; the default sharpness makes every softmax far from uniform."""
    model = Fastformer(d, h, causal=causal, share_qv=share_qv, scorer=scorer)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in ("w_q", "w_k"):
                std = sharpness
            elif name.endswith("bias"):
                std = 0.3
            elif name.startswith("score"):
                std = sharpness / math.sqrt(param.shape[-1])
            else:
                std = 1.5 / math.sqrt(param.shape[-1])
            param.copy_(torch.randn(param.shape, generator=gen, dtype=torch.float64) * std)
    return model.to(dtype)


def random_mask(batch: int, seq: int, seed: int) -> torch.Tensor:
    """Random keep-mask; row 0 keeps everything, row 1 (if any) has leading padding and a kept last token."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, seq, generator=gen) > 0.35
    mask[0] = True
    if batch > 1:
        mask[1, : seq // 2] = False
        mask[1, -1] = True
    return mask


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def _scores(params: dict[str, torch.Tensor], which: str, vectors: torch.Tensor, h: int, scorer: str):
    """Pooling scores (tokens, heads) of full-width vectors (tokens, d), from the equations."""
    d = vectors.shape[-1]
    dh = d // h
    if scorer == "paper":
        w = params[f"w_{which}"]
        cols = [vectors[:, j * dh:(j + 1) * dh] @ w[j] for j in range(h)]
        return torch.stack(cols, dim=-1) / math.sqrt(dh)
    weight, bias = params[f"score_{which}.weight"], params[f"score_{which}.bias"]
    return (vectors @ weight.T + bias) / math.sqrt(dh)


def _pool(scores: torch.Tensor, vectors: torch.Tensor, h: int) -> torch.Tensor:
    """Per head: softmax over the given tokens of their scores (tokens, h), then the weighted sum of
    their vectors (tokens, d); no tokens -> the zero vector."""
    d = vectors.shape[-1]
    dh = d // h
    if vectors.shape[0] == 0:
        return torch.zeros(d, dtype=vectors.dtype)
    parts = []
    for j in range(h):
        weights = torch.softmax(scores[:, j], dim=0)
        parts.append((weights[:, None] * vectors[:, j * dh:(j + 1) * dh]).sum(0))
    return torch.cat(parts)


def reference(model: Fastformer, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Fastformer from the paper's equations in float64, one batch row and (causal) one position at a time.

    Non-causal: g_q pools the kept q_i, p_i = g_q * k_i, g_k pools the kept p_i, u_i = g_k * v_i,
    out_i = W_r u_i + b_r + q_i. Causal (prefix adaptation): the same with the pools restricted to kept
    tokens i <= t, and p_i = g_q(i) * k_i.
    """
    params = {name: p.double() for name, p in model.named_parameters()}
    x = x.double()
    b_, n, _ = x.shape
    h, scorer = model.n_heads, model.scorer
    q = x @ params["to_q.weight"].T + params["to_q.bias"]
    k = x @ params["to_k.weight"].T + params["to_k.bias"]
    v = q if model.share_qv else x @ params["to_v.weight"].T + params["to_v.bias"]
    keep = [[True] * n] * b_ if mask is None else mask.tolist()
    rows = []
    for b in range(b_):
        s_q = _scores(params, "q", q[b], h, scorer)
        if model.causal:
            kept = [[i for i in range(t + 1) if keep[b][i]] for t in range(n)]
            g_q = torch.stack([_pool(s_q[kept[t]], q[b, kept[t]], h) for t in range(n)])
            p = g_q * k[b]
            s_k = _scores(params, "k", p, h, scorer)
            g_k = torch.stack([_pool(s_k[kept[t]], p[kept[t]], h) for t in range(n)])
        else:
            kept = [i for i in range(n) if keep[b][i]]
            g_q = _pool(s_q[kept], q[b, kept], h)
            p = g_q * k[b]
            g_k = _pool(_scores(params, "k", p[kept], h, scorer), p[kept], h).expand(n, -1)
        u = g_k * v[b]
        rows.append(u @ params["to_out.weight"].T + params["to_out.bias"] + q[b])
    return torch.stack(rows)


def inputs(batch: int, seq: int, d: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, seq, d, generator=gen, dtype=torch.float64).to(dtype)


# ---------------------------------------------------------------- agreement with the reference


@pytest.mark.parametrize(("scorer", "share_qv", "causal"), CONFIGS)
def test_float64_and_float32_match_the_equations_for_odd_sizes_and_masks(scorer, share_qv, causal):
    for seed, (b, n, d, h) in enumerate(SHAPES):
        model = make_model(d, h, scorer=scorer, share_qv=share_qv, causal=causal, seed=seed)
        x = inputs(b, n, d, seed)
        for mask in (None, random_mask(b, n, seed)):
            expected = reference(model, x, mask)
            assert torch.isfinite(expected).all()
            assert rel_err(model(x, mask), expected) < 1e-5
            got32 = model.float()(x.float(), mask)
            model.double()
            assert got32.dtype == torch.float32
            assert rel_err(got32, expected) < 1e-3


@pytest.mark.parametrize("chunk", [2, 5])
@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_causal_scan_with_small_chunks_recursing_deeply_matches_the_equations(chunk, scorer, monkeypatch):
    monkeypatch.setattr(fastformer, "CHUNK", chunk)
    model = make_model(12, 3, scorer=scorer, causal=True, seed=21)
    x = inputs(3, 33, 12, seed=21)
    for mask in (None, random_mask(3, 33, seed=21)):
        assert rel_err(model(x, mask), reference(model, x, mask)) < 1e-10
    assert model.flops(3, 33) == count_flops(lambda: model(x))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_bfloat16_forward_matches_reference_within_3e_2(causal, scorer):
    # bf16 keeps 8 bits: scores of a few units already cost ~1e-2, so the weights are milder here
    model = make_model(32, 4, scorer=scorer, causal=causal, seed=3, sharpness=0.5)
    x = inputs(2, 17, 32, seed=3)
    mask = random_mask(2, 17, seed=3)
    expected = reference(model, x, mask)
    got = model.to(torch.bfloat16)(x.to(torch.bfloat16), mask)
    assert got.dtype == torch.bfloat16
    assert torch.isfinite(got).all()
    assert rel_err(got, expected) < 3e-2


@pytest.mark.parametrize("causal", [False, True])
def test_cpu_autocast_to_bfloat16_runs_and_stays_within_3e_2(causal):
    model = make_model(32, 4, causal=causal, dtype=torch.float32, seed=23, sharpness=0.5)
    x = inputs(2, 40, 32, seed=23, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(x)
    assert got.dtype == torch.bfloat16
    assert rel_err(got, reference(model, x, None)) < 3e-2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("causal", [False, True])
def test_cuda_float32_and_bfloat16_match_float64_on_cpu(causal):
    model = make_model(64, 4, causal=causal, seed=24, sharpness=0.5)
    x = inputs(2, 3000, 64, seed=24)
    mask = random_mask(2, 3000, seed=24)
    with torch.no_grad():
        expected = model(x, mask)
        model.float().cuda()
        got32 = model(x.float().cuda(), mask.cuda())
        got16 = model.to(torch.bfloat16)(x.to(torch.bfloat16).cuda(), mask.cuda())
    assert rel_err(got32.cpu(), expected) < 1e-3
    assert rel_err(got16.cpu(), expected) < 3e-2


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_gradients_are_finite_and_match_the_reference_gradients(causal, scorer):
    model = make_model(12, 3, scorer=scorer, share_qv=False, causal=causal, seed=4)
    x = inputs(3, 9, 12, seed=4).requires_grad_(True)
    mask = random_mask(3, 9, seed=4)
    mask[2] = False  # a fully padded row must not poison the gradients
    weight = inputs(3, 9, 12, seed=5)
    (model(x, mask) * weight).sum().backward()
    got = {"x": x.grad.clone(), **{n: p.grad.clone() for n, p in model.named_parameters()}}
    assert all(torch.isfinite(g).all() for g in got.values())
    x.grad = None
    model.zero_grad()
    (reference(model, x, mask) * weight).sum().backward()
    expected = {"x": x.grad, **{n: p.grad for n, p in model.named_parameters()}}
    for name, grad in expected.items():  # score biases have zero gradient (softmax is shift-invariant)
        assert torch.allclose(got[name], grad, rtol=1e-8, atol=1e-10), name


@pytest.mark.parametrize("causal", [False, True])
def test_float32_backward_with_padding_gives_finite_gradients(causal):
    model = make_model(16, 4, causal=causal, dtype=torch.float32, seed=6)
    x = inputs(3, 20, 16, seed=6, dtype=torch.float32).requires_grad_(True)
    mask = random_mask(3, 20, seed=6)
    mask[2] = False
    model(x, mask).square().mean().backward()
    assert torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- masks, causality, symmetry


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_changing_padded_tokens_does_not_change_kept_outputs(causal, scorer):
    model = make_model(16, 4, scorer=scorer, causal=causal, seed=7)
    x = inputs(2, 11, 16, seed=7)
    mask = random_mask(2, 11, seed=7)
    noisy = torch.where(mask[..., None], x, 1e3 * inputs(2, 11, 16, seed=8))
    assert torch.allclose(model(x, mask)[mask], model(noisy, mask)[mask], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_mask_true_means_keep_matching_a_run_on_the_kept_tokens_only(causal):
    model = make_model(16, 4, causal=causal, seed=9)
    x = inputs(1, 12, 16, seed=9)
    mask = torch.zeros(1, 12, dtype=torch.bool)
    mask[0, [1, 2, 5, 8, 11]] = True
    compact = model(x[:, mask[0]])
    assert torch.allclose(model(x, mask)[mask], compact[0], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(model(x, ~mask)[~mask][:5], compact[0], atol=1e-3)


@pytest.mark.parametrize("causal", [False, True])
def test_mask_none_equals_all_true_mask(causal):
    model = make_model(16, 2, causal=causal, seed=10)
    x = inputs(2, 6, 16, seed=10)
    out = model(x)
    assert torch.equal(out, model(x, None))
    assert torch.allclose(out, model(x, torch.ones(2, 6, dtype=torch.bool)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_positions_without_any_kept_token_pool_to_zero_and_return_query_plus_output_bias(causal):
    model = make_model(16, 4, causal=causal, seed=11)
    x = inputs(2, 8, 16, seed=11)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[1, 5:] = True
    out = model(x, mask)
    assert torch.isfinite(out).all()
    q_plus_bias = model.to_q(x) + model.to_out.bias
    assert torch.allclose(out[0], q_plus_bias[0], rtol=1e-12, atol=1e-12)
    if causal:
        assert torch.allclose(out[1, :5], q_plus_bias[1, :5], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_causal_outputs_do_not_depend_on_future_tokens(scorer):
    model = make_model(16, 4, scorer=scorer, causal=True, seed=12)
    x = inputs(2, 15, 16, seed=12)
    changed = x.clone()
    changed[:, 9:] = 50 * inputs(2, 6, 16, seed=13)
    before, after = model(x), model(changed)
    assert torch.allclose(before[:, :9], after[:, :9], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(before[:, 9:], after[:, 9:], atol=1e-3)


@pytest.mark.parametrize("scorer", ["paper", "official"])
def test_non_causal_layer_is_permutation_equivariant(scorer):
    model = make_model(16, 4, scorer=scorer, seed=14)
    x = inputs(2, 13, 16, seed=14)
    perm = torch.randperm(13, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model(x[:, perm]), model(x)[:, perm], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- identities and ported-bug regressions


def test_key_pooling_is_one_query_attention_and_output_is_a_diagonal_map_of_the_query():
    d, h = 24, 3
    dh = d // h
    model = make_model(d, h, seed=15)
    x = inputs(2, 10, d, seed=15)
    pooled = model.pooling(x)
    q = (model.to_q(x)).view(2, 10, h, dh).transpose(1, 2)
    k = (model.to_k(x)).view(2, 10, h, dh).transpose(1, 2)
    one_query = (model.w_k * pooled.g_q)[:, :, None, :]                          # (b, h, 1, dh)
    beta = torch.softmax((one_query * k).sum(-1) / math.sqrt(dh), dim=-1)
    assert torch.allclose(pooled.beta, beta, rtol=1e-10, atol=1e-12)
    assert torch.allclose(pooled.g_k, pooled.g_q * (beta[..., None] * k).sum(-2), rtol=1e-10, atol=1e-12)
    g = pooled.g_k.reshape(2, d)
    w_r = model.to_out.weight
    q_full = q.transpose(1, 2).reshape(2, 10, d)
    maps = w_r[None] * g[:, None, :] + torch.eye(d, dtype=x.dtype)              # W_r diag(g_k) + I
    expected = torch.einsum("bef,bnf->bne", maps, q_full) + model.to_out.bias
    assert torch.allclose(model(x), expected, rtol=1e-10, atol=1e-10)


def test_global_key_pools_p_not_the_raw_keys():
    d, h = 16, 4
    model = make_model(d, h, seed=16)
    x = inputs(2, 9, d, seed=16)
    pooled = model.pooling(x)
    k = model.to_k(x).view(2, 9, h, d // h).transpose(1, 2)
    raw_key_pool = (pooled.beta[..., None] * k).sum(-2)
    assert not torch.allclose(pooled.g_k, raw_key_pool, atol=1e-3)
    q = model.to_q(x)
    wrong = model.to_out(raw_key_pool.reshape(2, 1, d) * q) + q
    right = reference(model, x, None)
    assert rel_err(model(x), right) < 1e-10
    assert rel_err(wrong, right) > 1e-2


def test_pooling_weights_sum_to_one_over_tokens_per_head_on_long_sequences():
    model = make_model(16, 4, dtype=torch.float32, seed=17)
    x = 30 * inputs(2, 4096, 16, seed=17, dtype=torch.float32)
    mask = torch.ones(2, 4096, dtype=torch.bool)
    mask[1, 3000:] = False
    with torch.no_grad():
        pooled = model.pooling(x, mask)
        out = model(x, mask)
    assert pooled.alpha.shape == pooled.beta.shape == (2, 4, 4096)
    for weights in (pooled.alpha, pooled.beta):
        assert torch.allclose(weights.sum(-1), torch.ones(2, 4), atol=1e-4)
        assert (weights >= 0).all()
        assert weights[1, :, 3000:].abs().max() == 0
        assert weights.max() > 10 / 4096  # far from uniform: the test would see a wrong-axis softmax
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_long_sequences_stay_finite_and_float32_tracks_float64_even_at_large_magnitude(causal, scale):
    model = make_model(16, 4, causal=causal, seed=18)
    x = scale * inputs(1, 4096, 16, seed=18)  # at 1e4 the key scores reach ~1e9: a plain float32
    with torch.no_grad():                     # running logcumsumexp would be off by 60 in log space
        got32 = model.float()(x.float())
        model.double()
        expected = model(x)
    assert torch.isfinite(got32).all()
    assert rel_err(got32, expected) < 1e-3


@pytest.mark.parametrize("causal", [False, True])
def test_memory_is_linear_no_tensor_exceeds_twice_the_input_size(causal):
    b, n, d, h = 1, 8192, 64, 2
    assert h * CHUNK <= d  # the causal scan's blocks hold b * h * n * CHUNK elements
    model = make_model(d, h, causal=causal, dtype=torch.float32, seed=19)
    x = inputs(b, n, d, seed=19, dtype=torch.float32)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[0, -100:] = False
    tracker = LargestTensor()
    with torch.no_grad(), tracker:
        out = model(x, mask)
    assert torch.isfinite(out).all()
    assert tracker.largest <= 2 * b * n * d  # B h N^2 is 256x larger, B h N d_h^2 is 32x larger


class _FullSizeTensors(TorchDispatchMode):
    """Counts the new tensors (not views, not in-place results) of exactly `size` elements ops return."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.count = size, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {a.untyped_storage().data_ptr() for a in args if isinstance(a, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() == self.size and t.untyped_storage().data_ptr() not in given:
                self.count += 1
        return out


@pytest.mark.parametrize(("scorer", "share_qv"), [("paper", True), ("official", True), ("paper", False)])
def test_non_causal_forward_makes_no_hidden_copy_of_a_token_sized_tensor(scorer, share_qv):
    """Only q, k (and v) and the output are (B, N, d): p_i = g_q * k_i, u_i = g_k * v_i, head-major copies
    and the residual sum are never materialised at N >= d (each is a pass over memory that costs time)."""
    b, n, d, h = 2, 96, 32, 4
    model = make_model(d, h, scorer=scorer, share_qv=share_qv, dtype=torch.float32)
    x = inputs(b, n, d, seed=21, dtype=torch.float32)
    probe = _FullSizeTensors(b * n * d)
    with torch.no_grad(), probe:
        model(x, random_mask(b, n, seed=21))
    assert probe.count == (3 if share_qv else 4)


# ---------------------------------------------------------------- FLOPs


@pytest.mark.parametrize(("scorer", "share_qv", "causal"), CONFIGS)
def test_flops_equal_flop_counter_mode_exactly(scorer, share_qv, causal):
    for b, n, d, h in [(2, 7, 32, 4), (1, 1, 16, 2), (3, 33, 48, 6), (2, 64, 64, 1)]:
        model = make_model(d, h, scorer=scorer, share_qv=share_qv, causal=causal, dtype=torch.float32)
        x = inputs(b, n, d, seed=20, dtype=torch.float32)
        assert model.flops(b, n) == count_flops(lambda m=model, x=x: m(x))


def test_flops_match_the_reference_table_for_the_non_causal_forms():
    b, n, d, h = 3, 100, 256, 16
    assert Fastformer(d, h).flops(b, n) == 6 * b * n * d * d + 8 * b * n * d
    official = 6 * b * n * d * d + 4 * b * n * d * h + 4 * b * n * d
    assert Fastformer(d, h, scorer="official").flops(b, n) == official
    assert Fastformer(d, h, share_qv=False).flops(b, n) - Fastformer(d, h).flops(b, n) == 2 * b * n * d * d


@pytest.mark.parametrize("causal", [False, True])
def test_elementwise_estimate_adds_work_linear_in_tokens(causal):
    model = Fastformer(64, 8, causal=causal)
    sizes = ((1, 128), (2, 128), (1, 256))
    extra = [model.flops(b, n, elementwise=True) - model.flops(b, n) for b, n in sizes]
    assert extra[0] > 0
    assert extra[1] == extra[2] == 2 * extra[0]


# ---------------------------------------------------------------- construction, registry, errors


@pytest.mark.parametrize(("scorer", "share_qv"), [("paper", True), ("paper", False), ("official", True)])
def test_state_dict_layout_is_as_documented(scorer, share_qv):
    d, h = 24, 4
    model = Fastformer(d, h, scorer=scorer, share_qv=share_qv)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {"to_q.weight": (d, d), "to_q.bias": (d,), "to_k.weight": (d, d), "to_k.bias": (d,),
                "to_out.weight": (d, d), "to_out.bias": (d,)}
    if not share_qv:
        expected |= {"to_v.weight": (d, d), "to_v.bias": (d,)}
    if scorer == "paper":
        expected |= {"w_q": (h, d // h), "w_k": (h, d // h)}
    else:
        expected |= {"score_q.weight": (h, d), "score_q.bias": (h,), "score_k.weight": (h, d),
                     "score_k.bias": (h,)}
    assert shapes == expected
    assert model.param_count() == sum(math.prod(s) for s in expected.values())


def test_scorers_are_initialised_like_the_official_code():
    model = Fastformer(256, 16, scorer="official")
    assert model.score_q.bias.abs().max() == 0
    assert 0.015 < model.score_q.weight.std().item() < 0.025
    assert 0.01 < Fastformer(256, 16).w_q.std().item() < 0.03


def test_layer_is_registered_with_its_options():
    assert "fastformer" in available()
    model = build("fastformer", 32, 4, causal=True, scorer="official", share_qv=False)
    assert isinstance(model, Fastformer) and model.causal and model.scorer == "official"
    info = describe("fastformer")
    assert info.supports_causal
    assert info.options["share_qv"][0] is True and info.options["scorer"][0] == "paper"
    assert all(help_text for _, help_text in info.options.values())


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"d_model": 30, "n_heads": 4}, "not divisible"),
    ({"d_model": 32, "n_heads": 4, "scorer": "bert"}, "'paper', 'official'"),
    ({"d_model": 32, "n_heads": 4, "share_qv": "yes"}, "share_qv"),
])
def test_bad_construction_raises_model_error(kwargs, fragment):
    with pytest.raises(ModelError, match=fragment):
        Fastformer(**kwargs)


@pytest.mark.parametrize(("x", "mask", "fragment"), [
    (torch.randn(5, 16), None, "shape"),
    (torch.randint(0, 3, (1, 5, 16)), None, "floating point"),
    (torch.randn(1, 5, 16, dtype=torch.float64), None, "does not match the layer's parameters"),
    (torch.randn(1, 5, 8), None, "d_model=16"),
    (torch.randn(1, 5, 16), torch.ones(1, 5), "bool"),
    (torch.randn(1, 5, 16), torch.ones(1, 4, dtype=torch.bool), "mask shape"),
])
def test_bad_input_raises_model_error(x, mask, fragment):
    with pytest.raises(ModelError, match=fragment):
        Fastformer(16, 4)(x, mask)


def test_pooling_inspection_is_refused_for_the_causal_adaptation():
    with pytest.raises(ModelError, match="causal=False"):
        Fastformer(16, 4, causal=True).pooling(torch.randn(1, 3, 16))
