"""Fingerprint of the machine and software a result was measured on, so results compare like with like.

`fingerprint()` gathers versions (Python, torch, CUDA, cuDNN, driver, packages), hardware (GPU name and
memory, CPU model and core counts), OS/kernel, torch's thread count and the repository's git commit and
dirty flag. GPU facts come from NVML (pynvml) so that taking a fingerprint does not initialise CUDA in
the calling process (a parent that later forks workers must not); torch.cuda is used only when NVML is
unavailable and CUDA is. The git call is cached per process, and the whole call takes well under a second.

Its id (`bench.results.identity.fingerprint_id`) hashes only the stable hardware and software fields
(no timestamp, thread count, hostname, git state or cuDNN version, which may be unknown in a process
that has not initialised CUDA); `hardware_key` there names the hardware alone. Both live in the torch-free
results layer so that the gate and the store can use them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.results.identity import FINGERPRINT_KEYS

PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "psutil", "nvidia-ml-py", "pytest-benchmark")
CUDNN_DISTRIBUTIONS = ("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "nvidia-cudnn-cu11")
REPO_DIR = Path(__file__).resolve().parents[2]
GIT_TIMEOUT_S = 2.0


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else whatever `platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    name = line.partition(":")[2].strip()
                    if name:
                        return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_cores() -> tuple[int | None, int | None]:
    try:
        import psutil

        return psutil.cpu_count(logical=True), psutil.cpu_count(logical=False)
    except ImportError:
        return os.cpu_count(), None


def _visible_nvml_handle(pynvml):
    """The NVML handle of the first GPU CUDA would use, honouring CUDA_VISIBLE_DEVICES."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    first = visible.split(",")[0].strip() if visible else "0"
    if first.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(first))
    return pynvml.nvmlDeviceGetHandleByUUID(first)


def visible_gpu_uuid() -> str | None:
    """The NVML UUID ("GPU-...") of the first GPU CUDA would use here, or None without NVML or a GPU.

    Read through NVML, so it does not initialise CUDA; CUDA_VISIBLE_DEVICES indices are taken in PCI bus
    order, which is NVML's, and the workers set CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA agrees."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no package, driver or library: NVML unavailable
        return None
    try:
        return _text(pynvml.nvmlDeviceGetUUID(_visible_nvml_handle(pynvml)))
    except Exception:  # no such device, or any NVML query failing: the UUID is unknown
        return None


def gpu_neighbours(uuid: str | None, own_pids: set[int]) -> int | None:
    """How many compute processes other than `own_pids` hold the GPU with this UUID now (NVML), or None
    where that cannot be read (no GPU, no NVML, or a container that hides other processes' ids)."""
    if uuid is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByUUID(uuid)
        processes = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:  # any NVML failure: unknown, not zero
        return None
    return sum(1 for proc in processes if proc.pid not in own_pids)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpu_facts_nvml() -> dict | None:
    """GPU name, count, memory and driver from NVML; None when NVML, its driver or a GPU is missing."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver or library: NVML unavailable
        return None
    try:
        if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
            return None
        handle = _visible_nvml_handle(pynvml)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        count = len(visible.split(",")) if visible else int(pynvml.nvmlDeviceGetCount())
        return {
            "gpu_name": _text(pynvml.nvmlDeviceGetName(handle)),
            "gpu_count": count,
            "gpu_memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
            "driver_version": _text(pynvml.nvmlSystemGetDriverVersion()),
        }
    except Exception:  # any NVML query failing means the facts are unknown
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # shutting down a half-initialised NVML is harmless to ignore
            pass


def _gpu_facts() -> dict:
    facts = _gpu_facts_nvml()
    if facts is not None:
        return facts
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"gpu_name": props.name, "gpu_count": torch.cuda.device_count(),
                "gpu_memory_bytes": int(props.total_memory), "driver_version": None}
    return {"gpu_name": None, "gpu_count": 0, "gpu_memory_bytes": None, "driver_version": None}


def _cudnn_version() -> str | None:
    """cuDNN's version from its pip distribution, else from torch if CUDA is already initialised here.

    `torch.backends.cudnn.version()` initialises CUDA, which a process that forks workers must not do.
    """
    for name in CUDNN_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    if torch.backends.cudnn.is_available() and torch.cuda.is_initialized():
        return str(torch.backends.cudnn.version())
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(HEAD commit, whether the working tree has changes) of this repository. Outside git (a copy of the
    tree on a borrowed machine) the commit is $ATTNBENCH_GIT_COMMIT when set, with the dirty flag unknown;
    else (None, None)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        given = os.environ.get("ATTNBENCH_GIT_COMMIT", "").strip()
        return (given, None) if given else (None, None)
    status = _git("status", "--porcelain")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


@functools.lru_cache(maxsize=1)
def _static_facts() -> dict:
    """Facts that cannot change while the process runs (cached: NVML and /proc reads cost a little)."""
    logical, physical = _cpu_cores()
    return {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": _cudnn_version(),
        **_gpu_facts(),
        "cpu_model": cpu_model(),
        "cpu_logical_cores": logical,
        "cpu_physical_cores": physical,
        "os": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "packages": _package_versions(),
        "hostname_hash": hashlib.sha1(socket.gethostname().encode()).hexdigest()[:12],
    }


def _os_name() -> str:
    if sys.platform.startswith("linux"):
        try:
            return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        except OSError:
            return "Linux"
    return f"{platform.system()} {platform.version()}".strip()


def fingerprint() -> dict:
    """The environment as a JSON-able dict with exactly the keys in FINGERPRINT_KEYS."""
    commit, dirty = git_state()
    fp = {**_static_facts(), "torch_threads": torch.get_num_threads(), "git_commit": commit,
          "git_dirty": dirty, "timestamp": time.time()}
    fp["packages"] = dict(fp["packages"])
    return {key: fp[key] for key in FINGERPRINT_KEYS}
