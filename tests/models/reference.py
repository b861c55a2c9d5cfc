"""Float64 building blocks shared by the layers' reference tests: random inputs and masks, and the
projections computed by hand from a layer's own weights (y = x W^T + b), independent of its forward."""

from __future__ import annotations

import torch

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
