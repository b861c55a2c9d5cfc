"""Robust summary statistics of raw timing samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

NOISE_THRESHOLD = 0.10


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), q in [0, 1]."""
    if not values:
        raise ValueError("quantile of an empty sample")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Median with spread of a sample; `noisy` when IQR/median exceeds NOISE_THRESHOLD."""

    n: int
    median: float
    iqr: float
    p10: float
    p90: float
    mean: float
    min: float
    max: float

    @property
    def relative_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf

    @property
    def noisy(self) -> bool:
        return self.relative_iqr > NOISE_THRESHOLD

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("cannot summarise an empty sample")
        if any(not math.isfinite(s) for s in samples):
            raise ValueError("samples contain NaN or infinity")
        return cls(
            n=len(samples),
            median=quantile(samples, 0.5),
            iqr=quantile(samples, 0.75) - quantile(samples, 0.25),
            p10=quantile(samples, 0.10),
            p90=quantile(samples, 0.90),
            mean=sum(samples) / len(samples),
            min=min(samples),
            max=max(samples),
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "noisy": self.noisy}
