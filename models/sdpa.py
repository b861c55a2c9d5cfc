"""Softmax attention through torch.nn.functional.scaled_dot_product_attention, reporting the backend that ran.

Which fused kernel SDPA picks depends on device, dtype, shapes, mask and the torch version, so it is
observed, not guessed: the first call for each case (device, dtype, shape, mask, causal, grad, enabled
backends) runs under a dispatch mode that records the `aten._scaled_dot_product_*` op PyTorch dispatched to.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

from models.base import Attention, ModelError
from models.registry import register
from models.softmax import SoftmaxAttention, merge_heads, split_heads

BACKENDS: dict[str, SDPBackend | None] = {
    "auto": None,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}

# aten op dispatched by SDPA -> the name kernel() reports. The math backend is a composite of bmm and
# softmax ops and has no op of its own.
_FUSED_OPS = {
    "_scaled_dot_product_flash_attention_for_cpu": "flash_cpu",
    "_scaled_dot_product_flash_attention": "flash",
    "_scaled_dot_product_efficient_attention": "efficient",
    "_scaled_dot_product_cudnn_attention": "cudnn",
    "_scaled_dot_product_fused_attention_overrideable": "overrideable",
    "_scaled_dot_product_attention_math_for_mps": "math_mps",
}
_MATH_OPS = {"bmm", "_safe_softmax", "_softmax"}
# What PyTorch raises when the enabled backends cannot run a call (CPU builds word it one way, CUDA another).
_NO_KERNEL_MESSAGES = ("No viable backend", "No available kernel")


def _enabled_backends() -> tuple[bool, ...]:
    """PyTorch's global SDPA backend switches (also set by an outer sdpa_kernel context)."""
    cuda = torch.backends.cuda
    return (cuda.flash_sdp_enabled(), cuda.mem_efficient_sdp_enabled(), cuda.cudnn_sdp_enabled(),
            cuda.math_sdp_enabled())


class _OpRecorder(TorchDispatchMode):
    """Dispatch mode that notes the name of every aten op run under it and otherwise changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.seen.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

    def backend(self) -> str:
        """The SDPA backend the recorded ops show: a fused kernel's name, "math", or "unknown"."""
        for op in self.seen:
            if op in _FUSED_OPS:
                return _FUSED_OPS[op]
        return "math" if _MATH_OPS.intersection(self.seen) else "unknown"


@register
class SDPAAttention(Attention):
    """Multi-head softmax attention computed by F.scaled_dot_product_attention, optionally forcing a backend.

    state_dict layout (identical to `softmax`, so weights load across the two): `to_q`, `to_k`, `to_v`,
    `to_out`, each an nn.Linear(d_model, d_model) with bias; head j uses features [j*d_h, (j+1)*d_h);
    heads are concatenated in order before `to_out`; no residual.

    Masks: causal alone uses is_causal=True; a padding mask becomes a bool attn_mask (B, 1, 1, N), or
    (B, 1, N, N) combined with the causal triangle when both are given. A mask can change which backend
    runs; kernel() reports it. So that no kernel ever sees a query row with no key (NaN in PyTorch before
    2.5; the 2.11 CUDA and 2.13 CPU kernels give zeros), a batch element with no kept token lets its padded
    queries see every key and, when causal, every query sees itself; kept rows are unaffected. The
    attention output of padded query rows is then set to zero before `to_out`, exactly as in `softmax`.
    """

    name = "sdpa"
    # Memory depends on the kernel: the fused ones are O(N), the math fallback O(N^2).
    complexity: ClassVar[dict[str, str | None]] = {"time": "quadratic", "memory": None}
    description = "softmax attention via F.scaled_dot_product_attention (fused kernels); reports the backend"
    option_help = {"backend": "SDPA backend: auto (PyTorch chooses), flash, efficient, cudnn or math"}

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, backend: str = "auto") -> None:
        super().__init__(d_model, n_heads, causal=causal)
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise ModelError(f"sdpa: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.add_projections()
        self._observed: dict[tuple, str] = {}
        self._last_kernel: str | None = None

    def _sdpa_mask(self, mask: torch.Tensor | None, n: int) -> tuple[torch.Tensor | None, bool]:
        """The (attn_mask, is_causal) pair for SDPA; True in attn_mask = may attend."""
        if mask is None:
            return None, self.causal
        keep = mask | ~mask.any(dim=-1, keepdim=True)
        if not self.causal:
            return keep[:, None, None, :], False
        allowed = torch.ones(n, n, dtype=torch.bool, device=mask.device).tril()
        diagonal = torch.eye(n, dtype=torch.bool, device=mask.device)
        return (allowed & keep[:, None, None, :]) | diagonal, False

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
                is_causal: bool) -> torch.Tensor:
        forced = BACKENDS[self.backend]
        context = contextlib.nullcontext() if forced is None else sdpa_kernel(forced)
        try:
            with context:
                return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        except RuntimeError as exc:
            if forced is None or not any(text in str(exc) for text in _NO_KERNEL_MESSAGES):
                raise
            raise ModelError(f"sdpa: backend {self.backend!r} cannot run on {q.device.type} {q.dtype} "
                             f"(head size {q.shape[-1]}, {'with' if attn_mask is not None else 'no'} mask); "
                             f"use backend='auto' or one that supports this case") from exc

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend via SDPA; x (B, N, d), mask (B, N) True = keep; a case's first call records the backend."""
        self.check_input(x, mask)
        b, n, _ = x.shape
        q = split_heads(self.to_q(x), self.n_heads)
        k = split_heads(self.to_k(x), self.n_heads)
        v = split_heads(self.to_v(x), self.n_heads)
        attn_mask, is_causal = self._sdpa_mask(mask, n)
        grad = torch.is_grad_enabled() and q.requires_grad
        case = (x.device, x.dtype, b, n, mask is not None, self.causal, grad, _enabled_backends())
        kernel = self._observed.get(case)
        if kernel is None:
            with _OpRecorder() as recorder:
                attended = self._attend(q, k, v, attn_mask, is_causal)
            kernel = self._observed[case] = recorder.backend()
        else:
            attended = self._attend(q, k, v, attn_mask, is_causal)
        self._last_kernel = kernel
        out = merge_heads(attended)
        if mask is not None:
            out = out.masked_fill(~mask[..., None], 0.0)
        return self.to_out(out)

    def kernel(self) -> str:
        """Backend observed on the latest forward ("flash", "efficient", "cudnn", "math", "flash_cpu", ...).

        Before any forward, a probe (batch 1, 8 tokens, no mask) runs on the parameters' device and dtype.
        """
        if self._last_kernel is None:
            weight = self.to_q.weight
            with torch.no_grad():
                self(torch.zeros(1, 8, self.d_model, device=weight.device, dtype=weight.dtype))
        return str(self._last_kernel)

    # The same math as `softmax`; FlopCounterMode counts 4 B N^2 d inside SDPA for every backend.
    flops = SoftmaxAttention.flops

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, backend={self.backend!r}"
