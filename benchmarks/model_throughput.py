"""Training and inference throughput of MORPH-Ti against the straightforward padded formulation.

    python -m benchmarks.model_throughput --json runs/model_throughput.json
    python -m benchmarks.model_throughput --official ~/src/MORPH --dropout 0.1   # beside the published code

For each case both implementations get the same random weights (the published
key layout: the padded one is `benchmarks/padded_reference.py`) and their
outputs are checked equal before timing. A training step is forward + MSE
loss + backward + AdamW (fused, for both); inference is a forward pass
under no_grad in eval mode (dropout off). The two implementations alternate
step by step in one process, so both see the same machine load; the table
shows the best step time (medians are in the JSON).
"fast-bf16" is the fast model under torch.autocast(bfloat16) (not equal
outputs: shown for its speed); with --compile, "fast-compiled" is the fast
model under torch.compile (first, compiling, call among the warm-up calls). Peak memory: each (case, implementation) runs
two training steps in a fresh process; the figure is the process's peak
resident set size over those steps (VmHWM, reset through /proc/self/clear_refs
after malloc_trim) minus its size before them: activations, gradients and
optimiser state, not the weights.
With --official PATH (a checkout of github.com/lanl/MORPH that you fetched;
nothing of it is copied here), "official" is the published model class
(`src.utils.vit_conv_xatt_axialatt2.ViT3DRegression`) built at the same sizes,
loaded with the same weights (strictly: same keys) and checked equal to ours
before timing; --dropout sets the dropout of both (the padded formulation has
none, so it is left out when dropout is on). Equality is checked in eval mode.
MFU = useful FLOPs per step (torch.utils.flop_counter on the fast model's
training step: the padded model's extra work is not counted as useful) /
best step time / this machine's fp32 matmul FLOP/s, measured in the same run.
"""

from __future__ import annotations

import argparse
import ctypes
import contextlib
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.padded_reference import ReferenceSizes, random_official_state, reference_forward
from morph.checkpoint.official import official_to_morph_state
from morph.config import MorphConfig
from morph.model import MORPH

CASES = {  # name: (description, B, t, F, C, D, H, W)
    "a": ("1D  B16 F3 C1 W256", 16, 1, 3, 1, 1, 1, 256),
    "b": ("2D  B8 F2 C1 64x64", 8, 1, 2, 1, 1, 64, 64),
    "c": ("3D  B2 F3 C3 32^3", 2, 1, 3, 3, 32, 32, 32),
}
TI = ReferenceSizes(filters=8, dim=256, heads=4, depth=4, mlp_dim=1024, heads_xa=32,
                    max_patches=4096, max_ar=1)


def _status_mib(key: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MiB."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) / 1024


def _reset_peak_rss() -> float:
    """Return freed heap to the OS and restart the peak-RSS counter; the RSS now (MiB)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


class Settings:
    """What every implementation of a run shares: dropout and where the published code is."""

    official: Path | None = None
    dropout: float = 0.0


def official_model(checkout: Path, dropout: float) -> torch.nn.Module:
    """The published MORPH-Ti model class from a lanl/MORPH checkout, at the sizes of `TI`."""
    if not (checkout / "src" / "utils" / "vit_conv_xatt_axialatt2.py").is_file():
        raise SystemExit(f"--official {checkout}: not a lanl/MORPH checkout "
                         "(src/utils/vit_conv_xatt_axialatt2.py is missing); "
                         "give the directory `git clone https://github.com/lanl/MORPH` made")
    if str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from src.utils.vit_conv_xatt_axialatt2 import ViT3DRegression
    except ImportError as err:  # the checkout's own dependencies (einops, ...)
        raise SystemExit(f"--official {checkout}: importing its model failed ({err}); "
                         "install what the checkout's requirements name into this environment") from err

    return ViT3DRegression(patch_size=TI.patch_size, dim=TI.dim, depth=TI.depth, heads=TI.heads,
                           heads_xa=TI.heads_xa, mlp_dim=TI.mlp_dim, max_components=TI.max_components,
                           conv_filter=TI.filters, max_ar=TI.max_ar, max_patches=TI.max_patches,
                           max_fields=TI.max_fields, dropout=dropout, emb_dropout=dropout, model_size="Ti")


def models_with_equal_weights(seed: int = 0):
    """(fast model, reference params, official model or None) with the same published-layout weights."""
    state = random_official_state(TI, seed)
    fast = MORPH(MorphConfig.from_preset("Ti", max_ar=1, dropout=Settings.dropout,
                                         emb_dropout=Settings.dropout))
    fast.load_state_dict(official_to_morph_state(state))
    params = {k: v.clone().requires_grad_(True) for k, v in state.items()}
    official = None
    if Settings.official is not None:
        official = official_model(Settings.official, Settings.dropout)
        official.load_state_dict(state, strict=True)
    return fast, params, official


def _batch(case: str):
    _, b, t, f, c, d, h, w = CASES[case]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(b, t, f, c, d, h, w, generator=generator)
    y = torch.randn(b, f, c, d, h, w, generator=generator)
    return x, y


def matmul_flops_per_s(size: int = 1024, repeats: int = 10) -> float:
    """Best fp32 matmul FLOP/s of this machine (size x size x size)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


IMPLEMENTATIONS = ("fast", "padded", "fast-bf16")
COMPILED = "fast-compiled"
OFFICIAL = "official"


def _step_functions(impl: str, fast: MORPH, params: dict, official: torch.nn.Module | None = None):
    """(train_step(x, y), infer(x, y)) for "fast" (our model, fp32 or under bf16 autocast),
    "padded" (the reference, fp32) or "official" (the published model class, fp32)."""
    if impl == OFFICIAL:
        forward, weights = (lambda x: official(x)[2]), list(official.parameters())
    elif impl in ("fast", "fast-bf16"):
        forward, weights = fast, list(fast.parameters())
    elif impl == COMPILED:
        forward, weights = torch.compile(fast, dynamic=False), list(fast.parameters())
    elif impl == "padded":
        forward, weights = (lambda x: reference_forward(params, x, TI)), list(params.values())
    else:
        raise ValueError(f"impl must be one of {IMPLEMENTATIONS + (COMPILED, OFFICIAL)}, got {impl!r}")
    optimiser = torch.optim.AdamW(weights, lr=1e-4, fused=True)
    precision = (torch.autocast("cpu", dtype=torch.bfloat16) if impl == "fast-bf16"
                 else contextlib.nullcontext())

    def train_step(x, y):
        optimiser.zero_grad(set_to_none=True)
        with precision:
            loss = torch.nn.functional.mse_loss(forward(x).float(), y)
        loss.backward()
        optimiser.step()

    module = official if impl == OFFICIAL else fast if impl != "padded" else None

    def infer(x, y):  # in eval mode: dropout off, as a user's inference runs
        if module is not None:
            module.eval()
        with torch.no_grad(), precision:
            forward(x)
        if module is not None:
            module.train()

    return train_step, infer


def peak_memory(case: str, impl: str) -> dict:
    """Peak RSS growth (MiB) over two training steps, after the weights; run in a fresh process."""
    fast, params, official = models_with_equal_weights()
    x, y = _batch(case)
    train_step, _ = _step_functions(impl, fast, params, official)
    before = _reset_peak_rss()
    train_step(x, y)
    train_step(x, y)
    return {"peak_mib": _status_mib("VmHWM") - before}


def interleaved_times(case: str, warmup: int, steps: int, implementations: tuple[str, ...]) -> dict:
    """Best and median seconds per call, the implementations alternating so all see the same load."""
    fast, params, official = models_with_equal_weights()
    x, y = _batch(case)
    functions = {impl: _step_functions(impl, fast, params, official) for impl in implementations}
    times = {(impl, kind): [] for impl in functions for kind in ("train", "infer")}
    for kind_index, kind in enumerate(("train", "infer")):
        for step in range(warmup + steps):
            for impl, fns in functions.items():
                start = time.perf_counter()
                fns[kind_index](x, y)
                if step >= warmup:
                    times[impl, kind].append(time.perf_counter() - start)
    return {impl: {f"{kind}_s": min(times[impl, kind]) for kind in ("train", "infer")}
            | {f"{kind}_median_s": sorted(times[impl, kind])[steps // 2] for kind in ("train", "infer")}
            for impl in functions}


def counted_flops(case: str) -> tuple[list[int], float, float | None]:
    """(FLOPs of one training step of fast, padded [and official], max |fast - padded| output,
    max |fast - official| output or None), outputs compared in eval mode."""
    from torch.utils.flop_counter import FlopCounterMode

    fast, params, official = models_with_equal_weights()
    x, y = _batch(case)
    fast.eval()
    with torch.no_grad():
        diff = (fast(x) - reference_forward(params, x, TI)).abs().max().item()
        official_diff = None if official is None else (fast(x) - official.eval()(x)[2]).abs().max().item()
    fast.train()
    flops = []
    forwards = [fast, lambda v: reference_forward(params, v, TI)]
    if official is not None:
        forwards.append(lambda v: official(v)[2])
    for forward in forwards:
        counter = FlopCounterMode(display=False)
        with counter:
            torch.nn.functional.mse_loss(forward(x), y).backward()
        flops.append(counter.get_total_flops())
    return flops, diff, official_diff


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="abc", help="subset of 'abc' (default: all)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per implementation")
    parser.add_argument("--steps", type=int, default=7, help="timed calls per implementation")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--compile", action="store_true",
                        help="also time the fast model under torch.compile (about 30 s of compilation per case)")
    parser.add_argument("--official", type=Path, metavar="PATH",
                        help="also time the published model from this lanl/MORPH checkout")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout of our model and the official one (the padded one has none: "
                             "it is left out when this is not 0)")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    Settings.official = args.official.expanduser().resolve() if args.official else None
    Settings.dropout = args.dropout
    if Settings.official is not None:
        official_model(Settings.official, 0.0)  # a wrong path fails before any timing

    if args.one:
        print(json.dumps(peak_memory(*args.one)))
        return

    implementations = IMPLEMENTATIONS + ((COMPILED,) if args.compile else ())
    if args.official:
        implementations = (OFFICIAL,) + implementations
    if args.dropout:  # the padded formulation has no dropout; bf16 is not the comparison then
        implementations = tuple(i for i in implementations if i not in ("padded", "fast-bf16"))
    baseline = "padded" if "padded" in implementations else OFFICIAL
    peak_flops = matmul_flops_per_s()
    rows = []
    for case in args.cases:
        (flops, padded_flops, *official_flops), diff, official_diff = counted_flops(case)
        batch = CASES[case][1]
        result = {"case": case, "description": CASES[case][0], "batch": batch,
                  "useful_gflop_per_step": flops / 1e9, "padded_gflop_per_step": padded_flops / 1e9,
                  "official_gflop_per_step": official_flops[0] / 1e9 if official_flops else None,
                  "max_abs_diff": diff, "max_abs_diff_official": official_diff}
        timed = interleaved_times(case, args.warmup, args.steps, implementations)
        extra = (["--official", str(Settings.official)] if Settings.official else []) + ["--dropout", str(args.dropout)]
        for impl in implementations:
            out = subprocess.run([sys.executable, "-m", __spec__.name, "--one", case, impl,
                                  "--threads", str(args.threads), *extra],
                                 check=True, capture_output=True, text=True).stdout
            measured = {**timed[impl], **json.loads(out.strip().splitlines()[-1])}
            result[impl] = {**measured,
                            "train_samples_per_s": batch / measured["train_s"],
                            "infer_samples_per_s": batch / measured["infer_s"],
                            "mfu": flops / measured["train_s"] / peak_flops}
        for impl in implementations:
            result[impl]["train_speedup"] = result[baseline]["train_s"] / result[impl]["train_s"]
            result[impl]["infer_speedup"] = result[baseline]["infer_s"] / result[impl]["infer_s"]
            if OFFICIAL in implementations:
                result[impl]["train_vs_official"] = result[OFFICIAL]["train_s"] / result[impl]["train_s"]
                result[impl]["infer_vs_official"] = result[OFFICIAL]["infer_s"] / result[impl]["infer_s"]
        rows.append(result)
        logging.getLogger(__name__).info("case %s done", case)

    print(f"MORPH-Ti, {args.threads} threads, torch {torch.__version__}, best of {args.steps} "
          f"steps, dropout {args.dropout}; fp32 matmul peak measured {peak_flops / 1e9:.0f} GFLOP/s\n")
    print(f"| case | impl | train samples/s | infer samples/s | train / infer speed-up vs {baseline} | "
          f"peak MiB (train) | GFLOP/step | MFU (train, vs fp32 peak) | max abs diff of fast vs padded"
          f"{' / official' if args.official else ''} |" + (" train / infer vs official |" if args.official else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if args.official else ""))
    for r in rows:
        for impl in implementations:
            m = r[impl]
            gflop = r[{"padded": "padded_gflop_per_step", OFFICIAL: "official_gflop_per_step"}.get(
                impl, "useful_gflop_per_step")]
            diff = f"{r['max_abs_diff']:.1e}" if impl == "fast" else ""
            if impl == "fast" and r["max_abs_diff_official"] is not None:
                diff += f" / {r['max_abs_diff_official']:.1e}"
            print(f"| {r['description']} | {impl} | {m['train_samples_per_s']:.2f} | "
                  f"{m['infer_samples_per_s']:.2f} | {m['train_speedup']:.2f}x / "
                  f"{m['infer_speedup']:.2f}x | {m['peak_mib']:.0f} | {gflop:.1f} | "
                  f"{100 * m['mfu']:.1f}% | {diff} |" + (f" {m['train_vs_official']:.2f}x / {m['infer_vs_official']:.2f}x |"
                                                          if args.official else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"threads": args.threads, "torch": torch.__version__,
                                         "dropout": args.dropout,
                                         "matmul_flops_per_s": peak_flops, "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
