"""BigBird: equal to its block rule in float64, dense attention when the pattern covers every block, a
random table fixed by its seed and saved with the weights, O(N block) memory and exact FLOPs.

The reference is written here from the rule, one query row at a time over exactly the keys whose blocks
the rule lets it see, in float64; it reads only the layer's weights and its random table (whose own
properties are checked separately), not its gathers.
"""

from __future__ import annotations

import math

import pytest
import torch

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.bigbird import DENSE, SPARSE
from tests.models.reference import LargestTensor, output_changes, padding_mask, rel_err

# (batch, seq, d_model, heads, block, window_blocks, n_random, n_global)
CASES = [
    (2, 37, 16, 2, 4, 1, 2, 1),    # 10 blocks, N not a multiple of the block
    (3, 23, 12, 3, 3, 1, 2, 0),    # no global block; padding_mask pads the whole last row
    (2, 50, 8, 1, 5, 1, 0, 2),     # no random block
    (1, 61, 16, 4, 4, 2, 3, 2),    # a 5-block window, 16 blocks
    (2, 29, 16, 2, 2, 0, 1, 1),    # window of the own block only
    (2, 10, 16, 2, 4, 1, 3, 2),    # 3 blocks: the pattern covers every block (dense path)
]


def _build(d: int, h: int, *, block: int = 64, window_blocks: int = 1, n_random: int = 3, n_global: int = 2,
           seed: int = 0, max_len: int = 65536, dtype: torch.dtype = torch.float64) -> models.Attention:
    torch.manual_seed(seed)
    return models.build("bigbird", d, h, block=block, window_blocks=window_blocks, n_random=n_random,
                        n_global=n_global, seed=seed, max_len=max_len).to(dtype).eval()


def sees(model: models.Attention, n: int) -> torch.Tensor:
    """The rule as a bool (h, N, N) matrix: may query i attend to key j, for each head?"""
    size, g, w = model.block, model.n_global, model.window_blocks
    n_blocks = -(-n // size)
    allowed = torch.zeros(model.n_heads, n_blocks, n_blocks, dtype=torch.bool)
    if model.is_dense(n):
        allowed[:] = True
    else:
        table = model.random_blocks(n_blocks)
        for head in range(model.n_heads):
            for row in range(n_blocks):
                for col in range(n_blocks):
                    allowed[head, row, col] = row < g or col < g or abs(row - col) <= w
                if row >= g:
                    allowed[head, row, table[head, row - g]] = True
    return allowed.repeat_interleave(size, 1).repeat_interleave(size, 2)[:, :n, :n]


def reference(x: torch.Tensor, model: models.Attention, mask: torch.Tensor | None) -> torch.Tensor:
    """BigBird from its rule in float64: each kept query takes one softmax over the kept keys it sees;
    padded query rows have zero attention output, so the layer gives to_out's bias there."""
    w = {name: t.detach().double().cpu() for name, t in model.state_dict().items()}
    x = x.double().cpu()
    q, k, v = (x @ w[f"{p}.weight"].T + w[f"{p}.bias"] for p in ("to_q", "to_k", "to_v"))
    batch, n, d = x.shape
    h = model.n_heads
    dh = d // h
    rule = sees(model, n)
    heads = torch.zeros(batch, n, d, dtype=torch.float64)
    for b in range(batch):
        for i in range(n):
            if mask is not None and not mask[b, i]:
                continue
            for head in range(h):
                seen = [j for j in range(n) if rule[head, i, j] and (mask is None or mask[b, j])]
                cols = slice(head * dh, (head + 1) * dh)
                scores = k[b, seen, cols] @ q[b, i, cols] / math.sqrt(dh)
                weights = torch.exp(scores - scores.max())
                heads[b, i, cols] = (weights / weights.sum()) @ v[b, seen, cols]
    return heads @ w["to_out.weight"].T + w["to_out.bias"]


# --- the equations ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("case", CASES, ids=[f"B{c[0]}-N{c[1]}-h{c[3]}-b{c[4]}-w{c[5]}-r{c[6]}-g{c[7]}"
                                             for c in CASES])
def test_matches_the_float64_block_rule_reference_in_float64_and_float32(case, masked):
    batch, n, d, h, block, window_blocks, n_random, n_global = case
    model = _build(d, h, block=block, window_blocks=window_blocks, n_random=n_random, n_global=n_global,
                   seed=n)
    x = torch.randn(batch, n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    mask = padding_mask(batch, n, seed=n) if masked else None
    ref = reference(x, model, mask)
    with torch.no_grad():
        out64 = model(x, mask)
        assert model.kernel() == (DENSE if model.is_dense(n) else SPARSE)
        out32 = model.float()(x.float(), mask)
    assert torch.isfinite(out64).all() and torch.isfinite(out32).all()
    assert rel_err(out64, ref) < 1e-10
    assert rel_err(out32, ref) < 1e-4


def test_the_reference_cases_cover_both_paths():
    paths = {_build(c[2], c[3], block=c[4], window_blocks=c[5], n_random=c[6], n_global=c[7]).is_dense(c[1])
             for c in CASES}
    assert paths == {True, False}


@pytest.mark.parametrize(("n", "block", "n_random"), [(10, 4, 3), (14, 2, 3), (7, 1, 4), (1, 64, 3)])
def test_where_the_pattern_covers_every_block_it_is_full_attention(n, block, n_random):
    model = _build(16, 4, block=block, n_random=n_random, seed=3)
    assert model.is_dense(n)
    full = models.build("sdpa", 16, 4).double().eval()
    full.load_state_dict({key: t for key, t in model.state_dict().items() if key != "random_draw"})
    x = torch.randn(3, n, 16, dtype=torch.float64)
    with torch.no_grad():
        for mask in (None, padding_mask(3, n, seed=4)):
            assert rel_err(model(x, mask), full(x, mask).double()) < 1e-10
            assert model.kernel() == DENSE


def test_dense_threshold_is_where_the_end_rows_candidates_all_fit_in_the_random_blocks():
    model = _build(16, 2, block=4, window_blocks=1, n_random=3, n_global=2)
    assert model.is_dense(7 * 4) and not model.is_dense(7 * 4 + 1)  # 2 + 3 + 2 = 7 blocks cover a row


def test_a_query_sees_exactly_its_window_global_and_random_blocks():
    model = _build(8, 1, block=2, window_blocks=1, n_random=1, n_global=1, seed=6)
    x = torch.randn(1, 40, 8, dtype=torch.float64)
    query, row = 20, 10                                       # block 10 of 20
    random_block = int(model.random_blocks(20)[0, row - 1, 0])
    seen = {0, 9, 10, 11, random_block}
    for block in range(20):
        assert output_changes(model, x, query, 2 * block) == (block in seen), block
    assert output_changes(model, x, 0, 39) and output_changes(model, x, 1, 25)  # the global block sees everything


def test_padded_tokens_do_not_change_kept_outputs():
    model = _build(12, 3, block=3, n_random=2, n_global=1, seed=8)
    x = torch.randn(3, 40, 12, dtype=torch.float64)
    mask = padding_mask(3, 40, seed=9)
    mask[1, :3] = False  # a padded global block is padded keys like any other
    changed = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    with torch.no_grad():
        out, out_changed = model(x, mask), model(changed, mask)
        assert model.kernel() == SPARSE
        assert torch.allclose(out[mask], out_changed[mask], rtol=0, atol=1e-12)
        assert torch.isfinite(out_changed).all()
        assert not torch.allclose(model(x)[mask], out[mask])


# --- the random table ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n_blocks", "window_blocks", "n_random", "n_global"),
                         [(12, 1, 3, 2), (9, 1, 3, 2), (40, 2, 5, 0), (20, 0, 1, 3), (8, 1, 2, 1)])
def test_random_blocks_are_distinct_and_outside_the_window_and_the_global_blocks(n_blocks, window_blocks,
                                                                                 n_random, n_global):
    model = _build(16, 4, block=2, window_blocks=window_blocks, n_random=n_random, n_global=n_global, seed=5)
    table = model.random_blocks(n_blocks)
    assert table.shape == (4, n_blocks - n_global, n_random) and table.dtype == torch.int64
    for head in range(4):
        for t, picks in enumerate(table[head].tolist()):
            row = n_global + t
            assert len(set(picks)) == n_random
            assert all(n_global <= j < n_blocks and abs(j - row) > window_blocks for j in picks), (row, picks)


def test_random_table_is_fixed_by_the_seed_differs_between_seeds_and_heads():
    a, b, c = (_build(16, 4, block=2, seed=seed) for seed in (7, 7, 8))
    assert torch.equal(a.random_blocks(30), b.random_blocks(30))
    assert torch.equal(a.random_blocks(30), a.random_blocks(30))
    assert not torch.equal(a.random_blocks(30), c.random_blocks(30))
    table = a.random_blocks(30)
    assert not torch.equal(table[0], table[1])


def test_random_table_and_outputs_survive_a_state_dict_round_trip():
    source = _build(16, 2, block=4, n_random=2, n_global=1, seed=1)
    target = _build(16, 2, block=4, n_random=2, n_global=1, seed=2)
    assert not torch.equal(source.random_blocks(20), target.random_blocks(20))
    target.load_state_dict(source.state_dict())
    assert torch.equal(source.random_blocks(20), target.random_blocks(20))
    x = torch.randn(2, 80, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(source(x), target(x))
    assert source.to(torch.float32).random_draw.dtype == torch.int64


def test_a_length_beyond_max_len_is_a_model_error_naming_max_len():
    model = _build(16, 2, block=4, n_random=1, n_global=1, max_len=40)
    with torch.no_grad():
        model(torch.randn(1, 40, 16, dtype=torch.float64))
        with pytest.raises(ModelError, match="max_len"):
            model(torch.randn(1, 41, 16, dtype=torch.float64))


# --- memory and FLOPs ---------------------------------------------------------------------------------------

def test_memory_grows_linearly_and_no_n_by_n_tensor_is_built():
    b, d, h, block = 1, 16, 2, 32
    model = _build(d, h, block=block, dtype=torch.float32)
    keys = 3 + 2 + 3                                           # window, global and random blocks per row
    largest = {}
    for n in (2048, 4096):
        x = torch.randn(b, n, d)
        with torch.no_grad(), LargestTensor() as probe:
            out = model(x, torch.ones(b, n, dtype=torch.bool))
        assert model.kernel() == SPARSE and torch.isfinite(out).all()
        largest[n] = probe.largest
        assert probe.largest <= b * h * n * keys * block, f"N={n}: {probe.largest}"
        assert probe.largest * 8 <= b * h * n * n, f"N={n}: {probe.largest} is not far below B h N^2"
    assert 1.9 <= largest[4096] / largest[2048] <= 2.1


def _expected_flops(b: int, n: int, d: int, block: int, window_blocks: int, n_random: int, n_global: int,
                    dense: bool) -> int:
    if dense:
        return 8 * b * n * d * d + 4 * b * n * n * d
    rows = -(-n // block) - n_global
    keys = 2 * window_blocks + 1 + n_global + n_random
    return 8 * b * n * d * d + 4 * b * d * rows * block * block * keys + 4 * b * d * n_global * block * n


@pytest.mark.parametrize("case", CASES, ids=[f"N{c[1]}-b{c[4]}-w{c[5]}-r{c[6]}-g{c[7]}" for c in CASES])
def test_flops_equal_counted_matmul_flops_on_either_path(case):
    b, n, d, h, block, window_blocks, n_random, n_global = case
    model = _build(d, h, block=block, window_blocks=window_blocks, n_random=n_random, n_global=n_global,
                   dtype=torch.float32).train()
    x = torch.randn(b, n, d)
    expected = _expected_flops(b, n, d, block, window_blocks, n_random, n_global, model.is_dense(n))
    assert model.flops(b, n) == expected
    assert count_flops(lambda: model(x)) == expected
    with torch.no_grad():
        assert count_flops(lambda: model(x, padding_mask(b, n, seed=1))) == expected


def test_elementwise_flops_add_biases_q_scaling_and_six_per_score():
    b, n, d, h = 2, 50, 16, 4
    model = _build(d, h, block=4, n_random=2, n_global=1)
    rows, keys = 13 - 1, 3 + 1 + 2
    scores = b * h * (rows * 4 * keys * 4 + 1 * 4 * n)
    assert model.flops(b, n, elementwise=True) == model.flops(b, n) + 5 * b * n * d + 6 * scores


# --- gradients and precision --------------------------------------------------------------------------------

def test_backward_gives_finite_gradients_for_x_and_every_parameter():
    model = _build(16, 2, block=3, n_random=2, n_global=1, dtype=torch.float32).train()
    x = torch.randn(3, 40, 16, requires_grad=True)
    mask = padding_mask(3, 40, seed=10)
    model(x, mask)[mask].square().mean().backward()
    assert model.kernel() == SPARSE
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


def test_gradients_match_finite_differences_on_the_sparse_path():
    model = _build(8, 2, block=2, n_random=1, n_global=1, seed=4).train()
    x = torch.randn(1, 15, 8, dtype=torch.float64, requires_grad=True)
    mask = padding_mask(1, 15, seed=5)
    assert torch.autograd.gradcheck(lambda t: model(t, mask), (x,))


def test_bfloat16_forward_is_finite_and_within_three_percent_of_float64():
    model = _build(32, 4, block=4, n_random=2, n_global=1, seed=11)
    x = torch.randn(2, 57, 32, dtype=torch.float64)
    mask = padding_mask(2, 57, seed=12)
    ref = reference(x, model, mask)
    with torch.no_grad():
        out = model.to(torch.bfloat16)(x.bfloat16(), mask)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert rel_err(out, ref) < 3e-2


# --- options and layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "words"), [
    ({"block": 0}, "block must be a positive integer"), ({"block": True}, "block"), ({"block": 2.0}, "block"),
    ({"window_blocks": -1}, "window_blocks must be a non-negative integer"), ({"n_random": -1}, "n_random"),
    ({"n_global": "2"}, "n_global"), ({"seed": -3}, "seed"), ({"max_len": 0}, "max_len"),
    ({"causal": True}, "no causal form"),
])
def test_invalid_options_are_model_errors_naming_the_problem(options, words):
    with pytest.raises(ModelError, match=words):
        models.build("bigbird", 16, 2, **options)


def test_registered_with_bigbird_base_defaults_and_the_softmax_weight_layout():
    info = models.describe("bigbird")
    assert not info.supports_causal and info.complexity == {"time": "linear", "memory": "linear"}
    assert {name: default for name, (default, _) in info.options.items()} == \
        {"block": 64, "window_blocks": 1, "n_random": 3, "n_global": 2, "seed": 0, "max_len": 65536}
    assert all(help_text for _, help_text in info.options.values())
    model = models.build("bigbird", 32, 4)
    assert model.kernel() == "not run yet"
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert shapes == {**{f"{p}.{w}": (32, 32) if w == "weight" else (32,)
                         for p in ("to_q", "to_k", "to_v", "to_out") for w in ("weight", "bias")},
                      "random_draw": (4, 1024, 3)}
