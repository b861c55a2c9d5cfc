"""Peak memory of one call above the pre-run baseline, measured in its own pass (never while timing).

What is reported
----------------
`peak_bytes` is the highest memory in use while `fn()` runs minus what was in use just before it: the
activations, temporaries, outputs and (in training) gradients the call creates. Weights and inputs
already exist at the baseline, so they are excluded; `weights_bytes` and `inputs_bytes` report them
separately, computed from the tensors (numel x element size).

CUDA (method `cuda_max_memory_allocated`): synchronise, reset the allocator's peak statistics, take
`memory_allocated()` as the baseline, run, synchronise, and report `max_memory_allocated() - baseline`.
`cuda_peak_reserved_bytes` is the caching allocator's absolute peak reservation (not a difference).
Where pynvml (nvidia-ml-py) and a driver are present, NVML's view after the call is added: this process's
used device memory (includes the CUDA context and the allocator's cache) and the whole device's used
memory. Every NVML call is guarded; anything unavailable is None.

CPU (method `linux_vmhwm`): the measuring process may be a reused worker, so the lifetime maximum RSS
(ru_maxrss) says nothing about this call. Instead: glibc `malloc_trim(0)` first returns freed heap pages
to the kernel (otherwise a call could reuse pages already counted in the baseline and look free), then
writing "5" to /proc/self/clear_refs resets the kernel's peak-RSS mark VmHWM to the current RSS; the
baseline is VmRSS, and the peak is VmHWM after the call minus that baseline. Limitations: RSS counts
pages actually touched (an allocated but untouched buffer is free), includes anything other threads of
the process touch meanwhile, and the kernel's RSS counters are approximate to a few hundred KiB.
When clear_refs is not writable (non-Linux, restricted /proc) a thread samples RSS with psutil every
millisecond (method `psutil_rss_sampling`): peaks shorter than the sampling interval can be missed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from collections.abc import Callable, Iterable

import torch

from bench.measure.timing import device_kind, synchronize

MEMORY_KEYS = ("peak_bytes", "weights_bytes", "inputs_bytes", "cuda_peak_allocated_bytes",
               "cuda_peak_reserved_bytes", "nvml_process_bytes", "nvml_device_used_bytes", "method")
SAMPLING_INTERVAL_S = 1e-3
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes held by the given tensors' elements (numel x element size), each distinct tensor once."""
    seen: set[int] = set()
    total = 0
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def malloc_trim() -> bool:
    """Ask glibc to return freed heap pages to the kernel; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        return False
    return True


def _status_bytes(field: str) -> int:
    with open(_STATUS) as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{field} is missing from {_STATUS}")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS; False when /proc/self/clear_refs cannot be written."""
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")
        _status_bytes("VmHWM")
    except OSError:
        return False
    return True


def _cpu_peak_vmhwm(fn: Callable[[], object]) -> int:
    baseline = _status_bytes("VmRSS")
    fn()
    return max(0, _status_bytes("VmHWM") - baseline)


def _cpu_peak_sampled(fn: Callable[[], object]) -> int:
    import psutil

    process = psutil.Process()
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(SAMPLING_INTERVAL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
        peak[0] = max(peak[0], process.memory_info().rss)
    finally:
        done.set()
        sampler.join()
    return max(0, peak[0] - baseline)


def _nvml_used(device: torch.device) -> tuple[int | None, int | None]:
    """(this process's used bytes, whole device's used bytes) from NVML, None for whatever is unavailable."""
    try:
        import pynvml
    except ImportError:
        return None, None
    try:
        pynvml.nvmlInit()
    except Exception:  # any NVML failure means "not available"
        return None, None
    try:
        handle = _nvml_handle(pynvml, device)
        if handle is None:
            return None, None
        try:
            device_used = int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        except Exception:
            device_used = None
        try:
            pid = os.getpid()
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            mine = [p.usedGpuMemory for p in procs if p.pid == pid and p.usedGpuMemory is not None]
            process_used = int(sum(mine)) if mine else None
        except Exception:
            process_used = None
        return process_used, device_used
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _nvml_handle(pynvml, device: torch.device):
    """NVML handle of a torch CUDA device, matched by PCI bus id (NVML ignores CUDA_VISIBLE_DEVICES)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    try:
        props = torch.cuda.get_device_properties(index)
        bus_id = f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
        return pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
    except Exception:  # fall back to the index when the bus id is unavailable
        try:
            return pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception:
            return None


def measure_memory(fn: Callable[[], object], *, device: str, weights: Iterable[torch.Tensor] = (),
                   inputs: Iterable[torch.Tensor] = ()) -> dict:
    """Run `fn()` once and return its peak memory above the baseline, with the keys in MEMORY_KEYS.

    `weights` and `inputs` are only sized (they exist before the call, so the peak excludes them).
    """
    result: dict = dict.fromkeys(MEMORY_KEYS)
    result["weights_bytes"] = tensor_bytes(weights)
    result["inputs_bytes"] = tensor_bytes(inputs)
    gc.collect()
    if device_kind(device) == "cuda":
        dev = torch.device(device)
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(dev)
        baseline = torch.cuda.memory_allocated(dev)
        fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(dev) - baseline
        result.update(peak_bytes=max(0, peak), cuda_peak_allocated_bytes=max(0, peak),
                      cuda_peak_reserved_bytes=torch.cuda.max_memory_reserved(dev),
                      method="cuda_max_memory_allocated")
        result["nvml_process_bytes"], result["nvml_device_used_bytes"] = _nvml_used(dev)
        return result
    malloc_trim()
    if _reset_peak_rss():
        result.update(peak_bytes=_cpu_peak_vmhwm(fn), method="linux_vmhwm")
    else:
        result.update(peak_bytes=_cpu_peak_sampled(fn), method="psutil_rss_sampling")
    return result
