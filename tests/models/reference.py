"""Float64 building blocks shared by the layers' reference tests: random inputs and masks, and the
projections computed by hand from a layer's own weights (y = x W^T + b), independent of its forward."""

from __future__ import annotations

import math

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

import models


def random_input(b: int, n: int, d: int, *, seed: int = 1, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Fresh N(0, 1) input of shape (b, n, d) from its own seeded generator."""
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def random_mask(b: int, n: int, *, seed: int = 2) -> torch.Tensor:
    """A bool padding mask keeping about 60 % of the tokens, and always the first of each row."""
    mask = torch.rand(b, n, generator=torch.Generator().manual_seed(seed)) < 0.6
    mask[:, 0] = True
    return mask


@torch.no_grad()
def projections(model: models.Attention, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k, v as (B, h, N, d_h) in float64 from the model's weights: y = x W^T + b."""
    x = x.double()
    b, n, d = x.shape
    h = model.n_heads
    out = []
    for layer in (model.to_q, model.to_k, model.to_v):
        y = x @ layer.weight.double().T + layer.bias.double()
        out.append(y.reshape(b, n, h, d // h).permute(0, 2, 1, 3))
    return tuple(out)


@torch.no_grad()
def output_projection(model: models.Attention, heads: torch.Tensor) -> torch.Tensor:
    """Heads (B, h, N, d_h) merged and passed through the model's to_out, in float64."""
    b, h, n, dh = heads.shape
    merged = heads.permute(0, 2, 1, 3).reshape(b, n, h * dh)
    return merged @ model.to_out.weight.double().T + model.to_out.bias.double()


def softmax_attention(x: torch.Tensor, state: dict[str, torch.Tensor], n_heads: int, mask: torch.Tensor | None,
                      causal: bool) -> torch.Tensor:
    """Multi-head attention from its equations in float64, one query row at a time.

    Each kept query takes a softmax over exactly the keys it may see (kept, and not in the future when
    causal); padded query rows have zero attention output, so the layer gives to_out's bias there.
    """
    w = {name: t.detach().double().cpu() for name, t in state.items()}
    x = x.double().cpu()
    q, k, v = (x @ w[f"{p}.weight"].T + w[f"{p}.bias"] for p in ("to_q", "to_k", "to_v"))
    batch, n, d = x.shape
    dh = d // n_heads
    heads = torch.zeros(batch, n, d, dtype=torch.float64)
    for b in range(batch):
        for i in range(n):
            if mask is not None and not mask[b, i]:
                continue
            seen = [j for j in range(n) if (mask is None or mask[b, j]) and (not causal or j <= i)]
            for h in range(n_heads):
                cols = slice(h * dh, (h + 1) * dh)
                scores = k[b, seen, cols] @ q[b, i, cols] / math.sqrt(dh)
                weights = torch.exp(scores - scores.max())
                heads[b, i, cols] = (weights / weights.sum()) @ v[b, seen, cols]
    return heads @ w["to_out.weight"].T + w["to_out.bias"]


def padding_mask(batch: int, n: int, seed: int) -> torch.Tensor:
    """Random padding: the first token of element 0 is kept; with 3+ elements, the last is all padding."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, n, generator=gen) > 0.35
    mask[0, 0] = True
    if batch >= 3:
        mask[-1] = False
    return mask


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest absolute error relative to the largest reference value."""
    return ((out.double().cpu() - ref).abs().max() / ref.abs().max()).item()


def output_changes(model: models.Attention, x: torch.Tensor, query: int, key: int) -> bool:
    """Does replacing token `key` with fresh random values change the layer's output at `query`?"""
    changed = x.clone()
    changed[:, key] = torch.randn(x.shape[0], x.shape[2], dtype=x.dtype)
    with torch.no_grad():
        return not torch.allclose(model(x)[:, query], model(changed)[:, query], rtol=0, atol=1e-12)


class LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an aten op returns (memory-scaling tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in pytree.tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return out
