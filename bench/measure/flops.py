"""FLOPs: counted with torch.utils.flop_counter.FlopCounterMode (blind spots patched) beside each layer's
analytic count.

On CPU the fused SDPA op (`_scaled_dot_product_flash_attention_for_cpu`) has no registered formula
and would count zero; we register the same formulas PyTorch uses for the CUDA SDPA kernels.
Element-wise work, reductions and softmax still count zero: that is what the analytic
`flops(..., elementwise=True)` estimate is for.

`analytic` is the model's `flops(batch, seq_len)` (matmul FLOPs of one forward). In train mode it is
3 x forward: the backward of a matmul C = A B whose operands both need gradients is two matmuls of the
same size (dA = dC B^T, dB = A^T dC), and here weights and input all need gradients. That is exact for
layers built from matmuls between such operands; it is an under-count where a matmul's operand is a
constant (Performer's random features: one backward matmul, not two) and where a fused kernel recomputes
in its backward (PyTorch counts SDPA's backward as 2.5 x its forward, i.e. 3.5 x in total). There, and
for any other disagreement beyond 1 %, `agree` is False and a FlopMismatchWarning gives the numbers.
`analytic_elementwise` (forward with elementwise=True, also x 3 in train) is an estimate only.
Layers without `flops()` (user layers) get analytic None.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from bench.config import BenchConfig

FLOP_TOLERANCE = 0.01
TRAIN_FLOP_FACTOR = 3
_aten = torch.ops.aten


class FlopMismatchWarning(UserWarning):
    """FlopCounterMode's count and the model's analytic FLOP count differ by more than FLOP_TOLERANCE."""


def _cpu_sdpa_forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                       **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CUSTOM_FORMULAS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_forward,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward,
}


def flop_counter() -> FlopCounterMode:
    """A FlopCounterMode with the CPU SDPA formulas registered; use it as a context manager."""
    return FlopCounterMode(display=False, custom_mapping=CUSTOM_FORMULAS)


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs FlopCounterMode sees while running `fn()`, with the CPU SDPA formulas registered."""
    with flop_counter() as counter:
        fn()
    return int(counter.get_total_flops())


def analytic_flops(model: nn.Module, config: BenchConfig, *, elementwise: bool = False) -> int | None:
    """The model's own FLOP count for this config and mode (3 x forward in train); None if it has none."""
    flops = getattr(model, "flops", None)
    if not callable(flops):
        return None
    from models.base import ModelError

    kwargs = {}
    if elementwise:
        params = inspect.signature(flops).parameters.values()
        if not any(p.name == "elementwise" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        kwargs["elementwise"] = True
    try:
        forward = int(flops(config.batch, config.seq_len, **kwargs))
    except (NotImplementedError, ModelError):
        return None
    return forward * TRAIN_FLOP_FACTOR if config.mode == "train" else forward


def compare_flops(counted: int | None, analytic: int | None, label: str) -> bool | None:
    """True when counted is within FLOP_TOLERANCE of analytic; warns with both numbers when not."""
    if counted is None or analytic is None:
        return None
    agree = abs(counted - analytic) <= FLOP_TOLERANCE * abs(analytic)
    if not agree:
        ratio = f"{counted / analytic:.4f}x" if analytic else "analytic is 0"
        warnings.warn(f"{label}: FlopCounterMode counted {counted:,} FLOPs but the analytic count is "
                      f"{analytic:,} ({ratio}); flops_agree=False", FlopMismatchWarning, stacklevel=2)
    return agree
