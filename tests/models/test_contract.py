"""The contract every attention model honours, checked for each registered model and a user-style layer.

Parametrised over `models.available()` at import time, so a new model file is covered without touching
this test. Comparisons run in float64 and eval mode; causal cases run wherever the model supports them.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from bench.measure.flops import count_flops
from models import ModelError
from models.registry import option_defaults

CUSTOM = "tests.fixtures.custom_layer:TinyAttention"
PROJECTIONS = ("to_q", "to_k", "to_out")
# Non-default options worth the same checks (multi-chunk causal paths, no Q=V sharing, ...); a variant
# is used only while its model is registered.
VARIANTS = {
    "fastformer": ({"share_qv": False}, {"scorer": "official"}),
    "linear": ({"chunk_size": 4},),
    "performer": ({"chunk_size": 4}, {"n_features": 5}),
    "linformer": ({"k": 8, "max_len": 64},),
    "sdpa": ({"backend": "math"},),
    "nystromformer": ({"n_landmarks": 4}, {"n_landmarks": 3, "pinv_iterations": 2}),
    "cosformer": ({"chunk_size": 4},),
    "longformer": ({"window": 16, "n_global": 2},),
    "bigbird": ({"block": 4, "n_random": 1, "n_global": 1},),
    "poolingformer": ({"window": 2, "pool_window": 6, "pool_size": 3, "stride": 2},),
}


def _spec_id(name: str, options: dict[str, object]) -> str:
    base = "custom" if name == CUSTOM else name
    return base + ("[" + ",".join(f"{k}={v}" for k, v in options.items()) + "]" if options else "")


# spec id -> (model name, options): every registered model with defaults, the user layer, the variants
SPECS: dict[str, tuple[str, dict[str, object]]] = {
    _spec_id(name, opts): (name, opts)
    for name in [*models.available(), CUSTOM]
    for opts in ({}, *(VARIANTS.get(name, ()) if name in models.available() else ()))
}
BASE = [spec for spec, (_, opts) in SPECS.items() if not opts]


def _supports_causal(spec: str) -> bool:
    return bool(getattr(models.get(SPECS[spec][0]), "supports_causal", True))


CASES = [pytest.param(spec, causal, id=f"{spec}-{'causal' if causal else 'full'}")
         for spec in SPECS for causal in (False, True) if not causal or _supports_causal(spec)]
CAUSAL = [spec for spec in SPECS if _supports_causal(spec)]
NON_CAUSAL_ONLY = [spec for spec in BASE if not _supports_causal(spec)]
# (batch, d_model, n_heads) combinations and sequence lengths the shape checks sweep
WIDTHS = ((2, 16, 2), (1, 32, 4))
LENGTHS = (1, 7, 64)
DOUBLE = torch.float64


def _build(spec: str, d_model: int = 16, n_heads: int = 2, *, causal: bool = False,
           dtype: torch.dtype = DOUBLE, seed: int = 0) -> nn.Module:
    name, options = SPECS[spec]
    torch.manual_seed(seed)
    return models.build(name, d_model, n_heads, causal=causal, **options).to(dtype).eval()


def _x(batch: int, seq: int, d_model: int, *, seed: int = 1, dtype: torch.dtype = DOUBLE) -> torch.Tensor:
    return torch.randn(batch, seq, d_model, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _mask(batch: int, seq: int, *, seed: int = 2) -> torch.Tensor:
    """A random keep-mask where every row keeps position 0 and pads position 1 (so ~mask keeps one too)."""
    mask = torch.rand(batch, seq, generator=torch.Generator().manual_seed(seed)) < 0.5
    mask[:, 0] = True
    mask[:, 1] = False
    return mask


def _close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"{what}: {m}")


# --- shapes, FLOPs, bookkeeping ---------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_output_has_the_input_shape_and_dtype_and_is_finite(spec: str, causal: bool) -> None:
    for batch, d_model, n_heads in WIDTHS:
        model = _build(spec, d_model, n_heads, causal=causal)
        for seq in LENGTHS:
            x = _x(batch, seq, d_model)
            for mask in (None, torch.ones(batch, seq, dtype=torch.bool)):
                with torch.no_grad():
                    out = model(x, mask=mask)
                label = f"B={batch} N={seq} d={d_model} h={n_heads} mask={mask is not None}"
                assert out.shape == x.shape, label
                assert out.dtype == x.dtype, label
                assert torch.isfinite(out).all(), label


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_fully_padded_rows_and_queries_without_kept_keys_stay_finite(spec: str, causal: bool) -> None:
    model = _build(spec, causal=causal)
    x = _x(3, 9, 16)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1] = False          # an empty sequence in the batch
    mask[2, :4] = False      # left padding: under causal masking the first queries see no kept key
    with torch.no_grad():
        out = model(x, mask=mask)
        alone = model(x[:1])
    assert torch.isfinite(out).all(), "padded positions must not produce NaN/inf (it leaks into later layers)"
    _close(out[0], alone[0], "a fully padded neighbour in the batch changed another sequence")


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_flops_equal_the_flop_counter_exactly(spec: str, causal: bool) -> None:
    for batch, seq, d_model, n_heads in ((2, 7, 16, 2), (1, 64, 32, 4), (3, 1, 16, 4)):
        model = _build(spec, d_model, n_heads, causal=causal, dtype=torch.float32)
        x = _x(batch, seq, d_model, dtype=torch.float32)
        with torch.no_grad():
            counted = count_flops(lambda: model(x))  # noqa: B023 - called immediately
        counted_with_grad = count_flops(lambda: model(x))  # noqa: B023 - called immediately
        analytic = model.flops(batch, seq)
        label = f"B={batch} N={seq} d={d_model} h={n_heads}"
        assert isinstance(analytic, int), f"{label}: flops() returned {type(analytic).__name__}"
        assert analytic == counted == counted_with_grad, \
            f"{label}: flops()={analytic}, counted {counted} (no_grad) / {counted_with_grad} (grad)"
        assert model.flops(batch, seq, elementwise=True) >= analytic, label


@pytest.mark.parametrize("spec", SPECS)
def test_param_count_equals_trainable_parameter_numel_and_kernel_is_named(spec: str) -> None:
    model = _build(spec, 32, 4)
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert expected > 0
    assert model.param_count() == expected
    kernel = model.kernel()
    assert isinstance(kernel, str) and kernel.strip()


@pytest.mark.parametrize("spec", SPECS)
def test_projections_are_square_linear_layers(spec: str) -> None:
    model = _build(spec, 32, 4)
    for proj in PROJECTIONS:
        layer = getattr(model, proj, None)
        assert isinstance(layer, nn.Linear), f"{spec}.{proj} must be an nn.Linear, got {type(layer).__name__}"
        assert (layer.in_features, layer.out_features) == (32, 32), f"{spec}.{proj} is not d_model x d_model"
    to_v = getattr(model, "to_v", None)
    assert to_v is None or isinstance(to_v, nn.Linear), f"{spec}.to_v must be absent or an nn.Linear"


@pytest.mark.parametrize("spec", SPECS)
def test_projection_weights_load_into_every_other_model(spec: str) -> None:
    source = _build(spec, 32, 4, seed=5)
    failures = []
    for other in SPECS:
        target = _build(other, 32, 4, seed=6)
        for proj in PROJECTIONS:
            try:
                getattr(target, proj).load_state_dict(getattr(source, proj).state_dict())
            except (RuntimeError, AttributeError) as exc:
                failures.append(f"{spec}.{proj} -> {other}: {str(exc).splitlines()[0]}")
                continue
            for key, value in getattr(source, proj).state_dict().items():
                assert torch.equal(getattr(target, proj).state_dict()[key], value)
    assert not failures, "\n".join(failures)


# --- masks --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_changing_padded_tokens_does_not_change_kept_outputs(spec: str, causal: bool) -> None:
    model = _build(spec, causal=causal)
    x, mask = _x(3, 13, 16), _mask(3, 13)
    noise = _x(3, 13, 16, seed=9)
    changed = torch.where(mask[..., None], x, noise)
    with torch.no_grad():
        out, out_changed, out_unmasked = model(x, mask=mask), model(changed, mask=mask), model(changed)
    _close(out_changed[mask], out[mask], "kept outputs depend on padded tokens")
    assert not torch.allclose(out_unmasked[mask], out[mask]), "the mask seems to be ignored"


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_kept_outputs_equal_the_model_run_on_the_kept_tokens_alone(spec: str, causal: bool) -> None:
    """Padding must be invisible, not merely constant (zeroed keys still dilute a softmax).

    Non-causal: right padding, so position-dependent layers (Linformer's length projection) keep their
    positions. Causal: right padding is trivially invisible, so the padding is scattered instead; this
    assumes no positional information, true of every causal layer here.
    """
    model = _build(spec, causal=causal)
    lengths = (11, 6, 1)
    x = _x(len(lengths), max(lengths), 16)
    if causal:
        mask = _mask(len(lengths), max(lengths))
    else:
        mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        out = model(x, mask=mask)
        for row in range(len(lengths)):
            alone = model(x[row:row + 1, mask[row]])
            _close(out[row, mask[row]], alone[0], f"row {row}: kept outputs differ from the unpadded run")


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_no_mask_equals_an_all_true_mask(spec: str, causal: bool) -> None:
    model = _build(spec, causal=causal)
    x = _x(2, 10, 16)
    with torch.no_grad():
        _close(model(x), model(x, mask=torch.ones(2, 10, dtype=torch.bool)), "mask=None vs all-True mask")


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_an_inverted_mask_gives_different_outputs(spec: str, causal: bool) -> None:
    model = _build(spec, causal=causal)
    x, mask = _x(2, 12, 16), _mask(2, 12)
    with torch.no_grad():
        out, out_inverted = model(x, mask=mask), model(x, mask=~mask)
    assert torch.isfinite(out_inverted).all()
    assert not torch.allclose(out[mask], out_inverted[mask]), "mask and ~mask gave the same kept outputs"


# --- causality ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", CAUSAL)
def test_causal_outputs_do_not_depend_on_future_tokens(spec: str) -> None:
    causal, full = _build(spec, causal=True), _build(spec, causal=False)
    seq = 17
    x = _x(2, seq, 16)
    for cut in (1, 8, seq - 1):
        future = torch.cat([x[:, :cut], _x(2, seq - cut, 16, seed=cut + 100)], dim=1)
        for mask in (None, _mask(2, seq)):
            with torch.no_grad():
                _close(causal(future, mask=mask)[:, :cut], causal(x, mask=mask)[:, :cut],
                       f"output before position {cut} changed with the future (mask={mask is not None})")
        with torch.no_grad():
            assert not torch.allclose(full(future)[:, :cut], full(x)[:, :cut]), \
                "the non-causal layer should see future tokens"


@pytest.mark.parametrize("spec", NON_CAUSAL_ONLY)
def test_models_without_a_causal_form_refuse_causal(spec: str) -> None:
    with pytest.raises(ModelError, match="causal"):
        models.build(SPECS[spec][0], 16, 2, causal=True)


# --- gradients and low precision ----------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_backward_gives_finite_gradients(spec: str, causal: bool) -> None:
    model = _build(spec, causal=causal, dtype=torch.float32).train()
    x = _x(2, 9, 16, dtype=torch.float32).requires_grad_()
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    out = model(x, mask=mask)
    out[mask].square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for pname, param in model.named_parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
    for proj in PROJECTIONS:
        grad = getattr(model, proj).weight.grad
        assert grad is not None and grad.abs().sum() > 0, f"{proj} does not take part in the output"


@pytest.mark.parametrize(("spec", "causal"), CASES)
def test_bfloat16_forward_on_cpu_is_finite(spec: str, causal: bool) -> None:
    model = _build(spec, 32, 4, causal=causal, dtype=torch.bfloat16)
    x = _x(2, 33, 32, dtype=torch.bfloat16)
    mask = _mask(2, 33)
    with torch.no_grad():
        out = model(x, mask=mask)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape
    assert torch.isfinite(out).all()


# --- errors -------------------------------------------------------------------------------------------------

def test_an_unknown_model_name_lists_the_available_ones() -> None:
    with pytest.raises(ModelError, match="unknown model") as info:
        models.build("no-such-attention", 16, 2)
    for name in models.available():
        assert name in str(info.value)


@pytest.mark.parametrize("spec", BASE)
def test_d_model_not_divisible_by_n_heads_is_a_model_error(spec: str) -> None:
    with pytest.raises(ModelError, match="divisible"):
        models.build(SPECS[spec][0], 18, 4)


BAD_INPUTS = {
    "rank 2": (lambda: torch.randn(5, 16), None, "shape"),
    "rank 4": (lambda: torch.randn(1, 2, 5, 16), None, "shape"),
    "wrong last dim": (lambda: torch.randn(2, 5, 12), None, "d_model=16"),
    "integer dtype": (lambda: torch.ones(2, 5, 16, dtype=torch.int64), None, "floating"),
    "mask wrong shape": (lambda: torch.randn(2, 5, 16), lambda: torch.ones(2, 6, dtype=torch.bool), "mask"),
    "mask 1-d": (lambda: torch.randn(2, 5, 16), lambda: torch.ones(5, dtype=torch.bool), "mask"),
    "float mask": (lambda: torch.randn(2, 5, 16), lambda: torch.ones(2, 5), "bool"),
    "int mask": (lambda: torch.randn(2, 5, 16), lambda: torch.ones(2, 5, dtype=torch.int64), "bool"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("spec", BASE)
def test_bad_inputs_are_model_errors(spec: str, case: str) -> None:
    make_x, make_mask, words = BAD_INPUTS[case]
    model = _build(spec, dtype=torch.float32)
    with pytest.raises(ModelError, match=words):
        model(make_x(), mask=make_mask() if make_mask else None)


@pytest.mark.parametrize("spec", BASE)
def test_an_unknown_option_is_a_model_error_naming_the_valid_ones(spec: str) -> None:
    name = SPECS[spec][0]
    with pytest.raises(ModelError, match="not_an_option") as info:
        models.build(name, 16, 2, not_an_option=3)
    valid = option_defaults(models.get(name))
    for option in valid:
        assert option in str(info.value)
    if not valid:
        assert "none" in str(info.value)


# --- user modules -------------------------------------------------------------------------------------------

def test_a_user_module_builds_by_module_and_class_path() -> None:
    model = models.build(CUSTOM, 16, 2, causal=True)
    assert type(model).__name__ == "TinyAttention"
    assert CUSTOM not in models.available() and "tiny" not in models.available()
    assert model(_x(1, 4, 16, dtype=torch.float32)).shape == (1, 4, 16)


@pytest.mark.parametrize(("spec", "words"), [
    ("tests.models.no_such_module:TinyAttention", "cannot import"),
    ("tests.fixtures.custom_layer:NoSuchClass", "NoSuchClass"),
    ("tests.fixtures.custom_layer:math", "math"),
])
def test_a_bad_user_module_or_class_is_a_model_error(spec: str, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        models.build(spec, 16, 2)
