"""How close each layer runs to this machine's GEMM rate, and how far from the best plain-PyTorch form of it.

For every layer at each length (batch 1, forward, float32, one CPU thread by default): fraction = the
layer's analytic FLOPs / (median time x the rate of a (4096 x d) @ (d x d) GEMM measured in the same
process, bench.measure.probe). For softmax, sdpa, linear and linformer it also times the fastest exact
plain-PyTorch form found for them (written below, with the layer's own weights, and checked to give the
layer's output) and reports layer time / best-form time. Layers and the probe are interleaved round by
round, so a drift of the machine hits them alike; medians over rounds, with the min-max spread.

    .venv/bin/python scripts/roofline.py --out reports/roofline-cpu.md
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import models  # noqa: E402
from bench.measure.environment import fingerprint  # noqa: E402
from bench.measure.probe import gemm_rate  # noqa: E402
from bench.measure.timing import time_callable  # noqa: E402
from bench.results.identity import ProbeSpec  # noqa: E402
from models.softmax import merge_heads, split_heads  # noqa: E402

DEFAULT_MODELS = ("fastformer", "softmax", "sdpa", "linear", "performer", "cosformer", "nystromformer",
                  "linformer[k=16,max_len=16384]", "longformer[window=16]", "bigbird", "poolingformer")
# Quadratic layers whose scores would not fit are skipped and said so (16384^2 x 16 heads x 4 B = 16 GiB).
SCORE_BYTES_LIMIT = 4 * 2**30
TARGET_FRACTION = 0.70
TARGET_RATIO = 1.25


class UsageError(ValueError):
    """A bad command line: one line, exit code 2."""


# --- the best plain-PyTorch forms, each exact for its layer -------------------------------------------------

def _qkv(layer: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k, v from one fused (d -> 3d) projection: one GEMM instead of three."""
    weight = torch.cat([layer.to_q.weight, layer.to_k.weight, layer.to_v.weight])
    bias = torch.cat([layer.to_q.bias, layer.to_k.bias, layer.to_v.bias])
    return tuple(split_heads(t, layer.n_heads) for t in F.linear(x, weight, bias).chunk(3, dim=-1))


def best_softmax(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Fused QKV; scores by baddbmm-free matmul with q pre-scaled; softmax in place; one live N x N tensor."""
    q, k, v = _qkv(layer, x)
    scores = (q * layer.d_head ** -0.5) @ k.transpose(-2, -1)
    torch.softmax(scores, dim=-1, out=scores)
    return layer.to_out(merge_heads(scores @ v))


def best_sdpa(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Fused QKV, then scaled_dot_product_attention."""
    q, k, v = _qkv(layer, x)
    return layer.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


def best_linear(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Fused QKV; elu+1 features; the (d_h x d_h) summaries and the normaliser in one matmul each."""
    q, k, v = _qkv(layer, x)
    phi_q, phi_k = F.elu(q) + 1.0, F.elu(k) + 1.0
    kv = phi_k.transpose(-2, -1) @ torch.cat([v, torch.ones_like(v[..., :1])], dim=-1)
    out = phi_q @ kv
    return layer.to_out(merge_heads(out[..., :-1] / (out[..., -1:] + layer.eps)))


def best_linformer(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Project along the sequence first: E (x W^T + b) = (E x) W^T + (E 1) b, so the key and value
    projections run on k rows instead of N."""
    n = x.shape[1]
    e, f = layer.proj_k[:, :n], layer.proj_v[:, :n]
    keys = F.linear(e @ x, layer.to_k.weight) + e.sum(dim=1, keepdim=True) * layer.to_k.bias
    values = F.linear(f @ x, layer.to_v.weight) + f.sum(dim=1, keepdim=True) * layer.to_v.bias
    q = split_heads(layer.to_q(x) * layer.d_head ** -0.5, layer.n_heads)
    scores = q @ split_heads(keys, layer.n_heads).transpose(-2, -1)
    return layer.to_out(merge_heads(torch.softmax(scores, dim=-1) @ split_heads(values, layer.n_heads)))


BEST_FORMS: dict[str, Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]] = {
    "softmax": best_softmax, "sdpa": best_sdpa, "linear": best_linear, "linformer": best_linformer}


# --- measuring ----------------------------------------------------------------------------------------------

def parse_variant(text: str) -> tuple[str, dict]:
    """`name[key=value,...]` -> (name, options); values are ints, floats, booleans or strings."""
    name, _, rest = text.partition("[")
    options: dict = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"model option {item!r} in {text!r} needs key=value")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return name, options


def _median_time(fn: Callable[[], object], budget_s: float) -> float:
    result = time_callable(fn, device="cpu", warmup=1, min_repeats=2, max_repeats=1000, budget_s=budget_s)
    return statistics.median(result.samples_s)


def measure(variants: list[str], seq_lens: list[int], d_model: int, n_heads: int, rounds: int,
            budget_s: float) -> tuple[list[dict], list[float]]:
    """Rows (one per variant and length, best forms included) and the probe rates, interleaved by round."""
    torch.manual_seed(0)
    cases, rows = [], []
    for text in variants:
        name, options = parse_variant(text)
        for n in seq_lens:
            layer = models.build(name, d_model, n_heads, **options).eval()
            row = {"variant": text, "model": name, "seq_len": n, "flops": int(layer.flops(1, n)), "times": [],
                   "best_times": [], "note": ""}
            rows.append(row)
            quadratic = getattr(layer, "complexity", {}).get("memory") == "quadratic"
            if quadratic and n_heads * n * n * 4 > SCORE_BYTES_LIMIT:
                row["note"] = f"skipped: its N x N scores need {n_heads * n * n * 4 / 2**30:.0f} GiB"
                continue
            if getattr(layer, "max_len", None) is not None and n > layer.max_len:
                row["note"] = f"skipped: N > max_len={layer.max_len}"
                continue
            x = torch.randn(1, n, d_model)
            best = BEST_FORMS.get(name)
            if best is not None:
                with torch.no_grad():
                    error = (best(layer, x) - layer(x)).abs().max().item()
                    scale = layer(x).abs().max().item()
                if not error <= 1e-4 * max(scale, 1.0):
                    raise RuntimeError(f"the best form of {text} differs from the layer by {error:.3g}")
            cases.append((row, layer, x, best))
    rates = []
    for _ in range(rounds):
        rates.append(gemm_rate(ProbeSpec("cpu", "float32", d_model, threads=torch.get_num_threads()))["flops_per_s"])
        for row, layer, x, best in cases:
            with torch.no_grad():
                row["times"].append(_median_time(functools.partial(layer, x), budget_s))
                if best is not None:
                    row["best_times"].append(_median_time(functools.partial(best, layer, x), budget_s))
    rates.append(gemm_rate(ProbeSpec("cpu", "float32", d_model, threads=torch.get_num_threads()))["flops_per_s"])
    return rows, rates


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.3g}" if values else "-"


def render(rows: list[dict], rates: list[float], command: str, elapsed_s: float, d_model: int,
           n_heads: int) -> str:
    """The markdown report."""
    env = fingerprint()
    rate = statistics.median(rates)
    lines = [f"# Roofline on this CPU ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Generated by `{command}` in {elapsed_s:.0f} s: {env.get('cpu_model')}, torch "
             f"{env.get('torch_version')}, {torch.get_num_threads()} thread(s), float32, forward, batch 1, "
             f"d_model {d_model}, {n_heads} heads, git {str(env.get('git_commit'))[:12]}"
             f"{' (dirty)' if env.get('git_dirty') else ''}.", "",
             f"GEMM rate ((4096 x {d_model}) @ ({d_model} x {d_model}), measured before every round and after the "
             f"last): median {rate / 1e9:.1f} GFLOP/s, range {min(rates) / 1e9:.1f}-{max(rates) / 1e9:.1f}.", "",
             "fraction = analytic FLOPs / (median time x median GEMM rate); best form = the fastest exact "
             "plain-PyTorch form found for the layer (scripts/roofline.py), timed interleaved with it; "
             "ratio = layer time / best-form time. Times: median over rounds [min-max of round medians].", "",
             "| layer | N | GFLOP | median ms [range] | fraction of GEMM rate | best form ms | ratio | note |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        times = row["times"]
        if not times:
            lines.append(f"| {row['variant']} | {row['seq_len']} | {row['flops'] / 1e9:.3g} | - | - | - | - | "
                         f"{row['note']} |")
            continue
        median = statistics.median(times)
        fraction = row["flops"] / (median * rate)
        spread = f"{_ms(times)} [{min(times) * 1e3:.3g}-{max(times) * 1e3:.3g}]"
        best, ratio, note = "-", "-", row["note"]
        if row["best_times"]:
            best = _ms(row["best_times"])
            value = median / statistics.median(row["best_times"])
            ratio = f"{value:.2f}"
            if value > TARGET_RATIO:
                note = (note + "; " if note else "") + f"above the {TARGET_RATIO}x target"
        if row["model"] == "fastformer" and row["seq_len"] >= 4096 and fraction < TARGET_FRACTION:
            note = (note + "; " if note else "") + f"below the {TARGET_FRACTION:.0%} target"
        lines.append(f"| {row['variant']} | {row['seq_len']} | {row['flops'] / 1e9:.3g} | {spread} | "
                     f"{100 * fraction:.3g} % | {best} | {ratio} | {note} |")
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="markdown file to write (default: print it)")
    parser.add_argument("--models", help="comma-separated layers with options, e.g. "
                                         "'fastformer,linformer[k=16,max_len=16384]' (default: every registered "
                                         "layer, Linformer with the paper's k = 16, Longformer with window 16)")
    parser.add_argument("--seq-len", type=_ints, default=[4096, 16384], help="lengths (default 4096,16384)")
    parser.add_argument("--d-model", type=int, default=256, help="width (default 256, the paper's)")
    parser.add_argument("--heads", type=int, default=16, help="heads (default 16, the paper's)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--budget-s", type=float, default=0.3, help="seconds per layer per round (default 0.3)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    variants = _split(args.models) if args.models else [
        v for v in DEFAULT_MODELS if parse_variant(v)[0] in models.available()]
    try:
        if args.rounds < 1 or args.threads < 1 or not args.budget_s > 0:
            raise UsageError("--rounds and --threads must be at least 1 and --budget-s positive")
        unknown = [v for v in variants if parse_variant(v)[0] not in models.available()]
        if unknown:
            raise UsageError(f"unknown model(s) {', '.join(unknown)}; available: {', '.join(models.available())}")
        torch.set_num_threads(args.threads)
        started = time.monotonic()
        rows, rates = measure(variants, args.seq_len, args.d_model, args.heads, args.rounds, args.budget_s)
    except (UsageError, models.ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python scripts/roofline.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(rows, rates, command.strip(), time.monotonic() - started, args.d_model, args.heads)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def _split(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


if __name__ == "__main__":
    sys.exit(main())
