"""Tiny contract-following layers that misbehave on purpose, for the runner's isolation tests.

They are built by the registry's `package.module:ClassName` form, e.g. "tests.bench.failing_models:Raiser",
inside a worker process; none of them is registered.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time

import torch
from torch import nn

from models.base import Attention, ModelError


class _Linear(Attention):
    """A single d x d projection: cheap to build and to run."""

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(x)

    def flops(self, batch: int, seq_len: int, *, elementwise: bool = False) -> int:
        """One d x d matmul per token."""
        return 2 * batch * seq_len * self.d_model ** 2


class Probe(_Linear):
    """Behaves; appends its process id to `pid_file` when built and sleeps `delay_s` per call."""

    name = "probe"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, pid_file: str = "",
                 delay_s: float = 0.0) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.delay_s = delay_s
        if pid_file:
            with open(pid_file, "a") as fh:
                fh.write(f"{os.getpid()}\n")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        time.sleep(self.delay_s)
        return super().forward(x, mask)


class Chatty(_Linear):
    """Writes to stdout in every way a model might: print, sys.stdout, and raw file descriptor 1."""

    name = "chatty"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        print("chatty: print to stdout", flush=True)
        sys.stdout.write("chatty: sys.stdout.write {not json\n")
        sys.stdout.flush()
        os.write(1, b"chatty: raw fd 1\n")
        return super().forward(x, mask)


class Raiser(_Linear):
    """Raises ValueError with a recognisable message on every call."""

    name = "raiser"
    MESSAGE = "raiser: deliberate failure 4242"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise ValueError(self.MESSAGE)


class SelfKiller(_Linear):
    """Sends itself `signal_number` (SIGKILL by default, as the kernel's OOM killer would)."""

    name = "self_killer"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False,
                 signal_number: int = int(signal.SIGKILL)) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.signal_number = signal_number

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        os.kill(os.getpid(), self.signal_number)
        time.sleep(60)
        return x


class Exiter(_Linear):
    """Ends its process with `os._exit(code)`, skipping all cleanup."""

    name = "exiter"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, code: int = 3) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.code = code

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        sys.stderr.write(f"exiter: leaving with code {self.code}\n")
        sys.stderr.flush()
        os._exit(self.code)


class Sleepy(_Linear):
    """Sleeps `sleep_s` seconds per call: longer than any test's timeout."""

    name = "sleepy"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, sleep_s: float = 120.0) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.sleep_s = sleep_s

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        time.sleep(self.sleep_s)
        return super().forward(x, mask)


class Hog(_Linear):
    """Allocates an activation of `n_bytes` bytes and writes to all of it, like a shape too big for memory.

    It refuses (ModelError) unless the process runs under a memory cap (RLIMIT_DATA) below `n_bytes`, so a
    cap that was not applied shows up as status `error` instead of exhausting the test machine's memory.
    """

    name = "hog"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, n_bytes: int = 8 << 30) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.n_bytes = n_bytes

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
        if soft == resource.RLIM_INFINITY or soft >= self.n_bytes:
            raise ModelError(f"hog: no memory cap below {self.n_bytes} bytes in force (RLIMIT_DATA={soft})")
        activation = torch.ones(self.n_bytes // 4, dtype=torch.float32)
        return super().forward(x, mask) + activation[0]


class DeviceHog(_Linear):
    """Allocates `n_bytes` bytes on the input's device, e.g. more than a GPU holds."""

    name = "device_hog"

    def __init__(self, d_model: int, n_heads: int, *, causal: bool = False, n_bytes: int = 1 << 40) -> None:
        super().__init__(d_model, n_heads, causal=causal)
        self.n_bytes = n_bytes

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        activation = torch.empty(self.n_bytes, dtype=torch.uint8, device=x.device)
        return super().forward(x, mask) + activation[0]
