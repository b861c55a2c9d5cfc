"""Counting FLOPs with torch.utils.flop_counter.FlopCounterMode, blind spots patched.

On CPU the fused SDPA op (`_scaled_dot_product_flash_attention_for_cpu`) has no registered formula
and would count zero; we register the same formulas PyTorch uses for the CUDA SDPA kernels.
Element-wise work, reductions and softmax still count zero: that is what the analytic
`flops(..., elementwise=True)` estimate is for.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

_aten = torch.ops.aten


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
