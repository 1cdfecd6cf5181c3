"""Axial against full attention: time and peak memory of one encoder block, forward + backward.

    OMP_NUM_THREADS=2 python -m benchmarks.attention_scaling --out runs/attention_scaling   # the plot of docs/benchmarks/attention-scaling.md
    python -m benchmarks.attention_scaling --quick          # a smoke run: small grids

One MORPH encoder block (`morph.model.encoder.EncoderBlock`: pre-LayerNorm axial
attention, time then D, H and W each on its own q, k, v, o, then the MLP) against
the same block with full spatiotemporal attention over all t x nD x nH x nW tokens
(one q, k, v, o; `scaled_dot_product_attention` on the whole sequence). Both at the
sizes of the default `morph pretrain` model (dim 128, 4 heads, MLP 256), history
t = 2, batch 1, on data grids cut into patches of 8 (1D up to 32768 points, 2D up to
512², 3D up to 128³: up to 8192 tokens each; a series stops early when a step takes more than `--max-seconds`
or the process runs out of memory).

Time: the best of `--repeats` forward + backward passes after one warm-up.
Memory: on CUDA, the peak allocated memory of the pass; on CPU, the growth of the
process's peak resident memory (ru_maxrss) during the passes, in a fresh process
per point (after one pass on a tiny grid), so one point's peak does not hide the next one's. The growth exponent of
each series is the slope of log(time) (log(memory)) against log(tokens) over its
last three points; full attention tends to 2, axial to 1 + 1/d on a d-dimensional grid.
Writes `attention_scaling.json`, `.md` and `.png` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from morph.config import MorphConfig
from morph.model.encoder import MLP, EncoderBlock

GRIDS = {1: [512, 2048, 8192, 32768], 2: [32, 64, 128, 256, 512], 3: [16, 32, 64, 128]}
QUICK = {1: [256, 512], 2: [16, 32], 3: [8, 16]}
SIZES = dict(dim=128, heads=4, mlp_dim=256)


class FullAttentionBlock(nn.Module):
    """The encoder block with one attention over every token: `(B, t, D, H, W, dim)` in and out."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm, self.mlp_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.mlp = MLP(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.flatten(1, 4)  # (B, N, dim), N = t * D * H * W
        h = self.attn_norm(tokens)

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, N, head_dim)

        attended = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        tokens = tokens + self.o(attended.transpose(1, 2).flatten(-2))
        tokens = tokens + self.mlp(self.mlp_norm(tokens))
        return tokens.view(shape)


def token_grid(dims: int, size: int, patch: int, history: int) -> tuple[int, ...]:
    """(t, nD, nH, nW) of a data grid of `size` per axis on `dims` axes."""
    n = -(-size // patch)
    spatial = {1: (1, 1, n), 2: (1, n, n), 3: (n, n, n)}[dims]
    return (history, *spatial)


def measure(mode: str, dims: int, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """One point, in this process: best forward + backward time and the memory it took."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    if mode == "axial":
        block = EncoderBlock(MorphConfig(**SIZES, dropout=0.0, emb_dropout=0.0))
    else:
        block = FullAttentionBlock(**SIZES)
    block = block.to(device)
    grid = token_grid(dims, size, args.patch, args.history)
    x = torch.randn(1, *grid, SIZES["dim"], device=device, requires_grad=True)
    cuda = device.type == "cuda"
    # One pass on a tiny grid first: thread pools and autograd's own memory are not the block's.
    block(torch.randn(1, args.history, 1, 1, 2, SIZES["dim"], device=device, requires_grad=True)).sum().backward()
    block.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    best = math.inf
    for attempt in range(args.repeats + 1):  # attempt 0 is the warm-up
        start = time.perf_counter()
        block(x).square().mean().backward()
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        block.zero_grad(set_to_none=True)
        x.grad = None
        if attempt > 0 or elapsed > args.max_seconds:  # a warm-up past the limit is the only figure
            best = min(best, elapsed)
        if elapsed > args.max_seconds:
            break
    peak = (torch.cuda.max_memory_allocated() - base if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
    return {"mode": mode, "dims": dims, "size": size, "tokens": math.prod(grid), "seconds": best,
            "peak_mb": peak / 2 ** 20}


def _point(mode: str, dims: int, size: int, args: argparse.Namespace) -> Optional[dict[str, Any]]:
    """`measure` in a fresh process; None when it ran out of memory or time."""
    command = [sys.executable, __file__, "--child", mode, str(dims), str(size), "--repeats", str(args.repeats),
               "--patch", str(args.patch), "--history", str(args.history), "--device", args.device,
               "--max-seconds", str(args.max_seconds)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30 * args.max_seconds)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(f"{mode} {dims}D {size}: failed ({proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponent(points: list[dict[str, Any]], key: str) -> float:
    """Least-squares slope of log(key) against log(tokens) over the last three points."""
    last = [p for p in points if p[key] > 0][-3:]
    if len(last) < 2:
        return float("nan")
    xs, ys = [math.log(p["tokens"]) for p in last], [math.log(p[key]) for p in last]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def report(points: list[dict[str, Any]]) -> str:
    lines = ["| dims | data grid | tokens (t x patches) | axial ms | full ms | full / axial | axial MB | full MB |",
             "|---|---|---|---|---|---|---|---|"]
    for dims in sorted({p["dims"] for p in points}):
        for size in sorted({p["size"] for p in points if p["dims"] == dims}):
            row = {p["mode"]: p for p in points if p["dims"] == dims and p["size"] == size}
            a, f = row.get("axial"), row.get("full")
            tokens = (a or f)["tokens"]
            ratio = f"{f['seconds'] / a['seconds']:.2f}" if a and f else "-"
            cell = lambda p, k, s: f"{p[k] * s:.1f}" if p else "out of budget"  # noqa: E731
            lines.append(f"| {dims}D | {size}{'²' if dims == 2 else '³' if dims == 3 else ''} | {tokens} "
                         f"| {cell(a, 'seconds', 1e3)} | {cell(f, 'seconds', 1e3)} | {ratio} "
                         f"| {cell(a, 'peak_mb', 1)} | {cell(f, 'peak_mb', 1)} |")
    lines += ["", "| dims | time exponent: axial | full | memory exponent: axial | full | crossover (tokens) |",
              "|---|---|---|---|---|---|"]
    for dims in sorted({p["dims"] for p in points}):
        series = {m: [p for p in points if p["dims"] == dims and p["mode"] == m] for m in ("axial", "full")}
        pairs = [(p["tokens"], p["seconds"], q["seconds"]) for p in series["axial"] for q in series["full"]
                 if p["size"] == q["size"]]
        slower = [tokens for tokens, a, f in pairs if f > a]
        crossover = str(min(slower)) if slower else "none measured"
        times = [exponent(series[m], "seconds") for m in ("axial", "full")]
        lines.append(f"| {dims}D | {times[0]:.2f} | {times[1]:.2f} "
                     f"| {exponent(series['axial'], 'peak_mb'):.2f} | {exponent(series['full'], 'peak_mb'):.2f} "
                     f"| {crossover} |")
    return "\n".join(lines)


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    for dims, color in ((1, "tab:blue"), (2, "tab:orange"), (3, "tab:green")):
        for mode, style in (("axial", "-o"), ("full", "--s")):
            series = [p for p in points if p["dims"] == dims and p["mode"] == mode]
            if not series:
                continue
            tokens = [p["tokens"] for p in series]
            axes[0].loglog(tokens, [p["seconds"] * 1e3 for p in series], style, color=color, ms=3,
                           label=f"{dims}D {mode}")
            axes[1].loglog(tokens, [max(p["peak_mb"], 0.1) for p in series], style, color=color, ms=3)
    axes[0].set(xlabel="tokens", ylabel="fwd + bwd ms", title="time, one encoder block")
    axes[1].set(xlabel="tokens", ylabel="MB", title="peak memory")
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/attention_scaling")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--patch", type=int, default=8)
    parser.add_argument("--history", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="stop a series past this step time")
    parser.add_argument("--quick", action="store_true", help="small grids only (a smoke run)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DIMS", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, dims, size = args.child
        print(json.dumps(measure(mode, int(dims), int(size), args)))
        return
    grids = QUICK if args.quick else GRIDS
    points = []
    for dims, sizes in grids.items():
        for mode in ("axial", "full"):
            for size in sizes:
                point = _point(mode, dims, size, args)
                if point is None:
                    break
                points.append(point)
                print(f"{mode:>5} {dims}D {size:>5}: {point['tokens']:>6} tokens, {point['seconds'] * 1e3:9.1f} ms, "
                      f"{point['peak_mb']:8.1f} MB", flush=True)
                if point["seconds"] > args.max_seconds:
                    break
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = report(points)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / "attention_scaling.md").write_text(table + "\n")
    (out / "attention_scaling.json").write_text(json.dumps(
        {"args": {k: v for k, v in vars(args).items() if k != "child"}, "sizes": SIZES, "date": when,
         "torch": torch.__version__, "threads": torch.get_num_threads(), "points": points}, indent=2) + "\n")
    plot(points, out / "attention_scaling.png")
    print(table)


if __name__ == "__main__":
    main()
