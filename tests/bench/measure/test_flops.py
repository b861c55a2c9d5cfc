"""FLOP counting sees the fused CPU SDPA op, which FlopCounterMode alone counts as zero."""

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.measure.flops import count_flops, flop_counter


def _qkv(requires_grad: bool = False) -> torch.Tensor:
    return torch.randn(2, 4, 64, 16, requires_grad=requires_grad)


def test_plain_flop_counter_mode_misses_cpu_sdpa_which_ours_counts():
    q = _qkv()
    with FlopCounterMode(display=False) as plain:
        F.scaled_dot_product_attention(q, q, q)
    assert plain.get_total_flops() == 0
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == 4 * 2 * 4 * 64 * 64 * 16


def test_cpu_sdpa_backward_is_counted_like_the_cuda_kernels():
    q = _qkv(requires_grad=True)
    forward = 4 * 2 * 4 * 64 * 64 * 16
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().backward()) == forward + 2.5 * forward


def test_a_matmul_counts_two_flops_per_multiply_add_and_the_counter_can_wrap_any_block():
    a, b = torch.randn(67, 45), torch.randn(45, 83)
    assert count_flops(lambda: a @ b) == 2 * 67 * 45 * 83
    with flop_counter() as counter:
        a @ b
        a @ b
    assert counter.get_total_flops() == 4 * 67 * 45 * 83
