"""The JSON Lines protocol between a session and its worker processes (never pickle).

The session writes requests to the worker's stdin and reads replies from its stdout:

- on start the worker replies `{"type": "ready", "pid", "protocol", "max_memory_bytes",
  "baseline_data_bytes", "fingerprint", "host", "cuda_visible_devices", "gpu_uuid"}` (`fingerprint` is
  bench.measure.environment.fingerprint() of that process when started with --fingerprint, else null;
  `gpu_uuid` the NVML UUID of the GPU it would use, or null);
- `{"op": "run", "key", "config": {...}}` -> `{"type": "result", "key", "record": Record.to_json()}`, or
  `{"type": "failure", "key", "status": "oom" | "error", "error": traceback tail, "exception": name}`
  when the measurement raised (classified by bench.measure.harness.classify_exception); `key` is the
  configuration's digest and only pairs a reply with its request;
- `{"op": "probe", "key", "spec": ProbeSpec.to_dict()}` -> `{"type": "probe", "key", "probe": {...}}`
  (bench.measure.probe.gemm_rate's result), or a failure reply as above;
- `{"op": "exit"}` or end of input -> the worker exits.
"""

from __future__ import annotations

import json

from bench.config import BenchConfig
from bench.results.identity import ProbeSpec

PROTOCOL_VERSION = 1
TRACEBACK_LINES = 20


def encode(message: dict) -> str:
    """One protocol line: strict JSON (no NaN), no newline inside."""
    return json.dumps(message, allow_nan=False, sort_keys=True)


def run_request(config: BenchConfig) -> dict:
    """The request to measure `config`."""
    return {"op": "run", "key": config.digest(), "config": config.to_dict()}


def probe_request(spec: ProbeSpec) -> dict:
    """The request to measure the machine-speed probe `spec`."""
    return {"op": "probe", "key": "probe:" + json.dumps(spec.to_dict(), sort_keys=True), "spec": spec.to_dict()}


def result_reply(key: str, record_json: dict) -> dict:
    return {"type": "result", "key": key, "record": record_json}


def probe_reply(key: str, probe: dict) -> dict:
    return {"type": "probe", "key": key, "probe": probe}


def failure_reply(key: str, status: str, error: str, exception: str) -> dict:
    return {"type": "failure", "key": key, "status": status, "error": error, "exception": exception}
