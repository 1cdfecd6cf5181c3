"""Training and rollout throughput of the recipe's MORPH in float32, bfloat16 and compiled float32.

    OMP_NUM_THREADS=2 python -m benchmarks.precision_throughput --json runs/precision_throughput.json

The model is the recipe's (examples/configs/recipe.yaml: dim 192, depth 4, patch 4, max_ar 4,
boundary padding and embedding, predict_delta). A training step is forward + masked MSE + backward
+ AdamW through `morph.train.objective.training_loss`, as the trainer runs it; a rollout step is
`morph.predict.predict` under no_grad in eval mode, as `rollouts.rollout` runs it. "bf16" runs both
under `morph.precision.autocast("bf16")` (what `mixed_precision: auto` picks on a CPU with native
bfloat16); "compiled" is float32 under torch.compile (its compiling calls are among the untimed
warm-up calls; bfloat16 does not compile on the CPU, see `morph.train.loop`). The contenders
alternate call by call in one process, so they see the same machine load; the table shows the best
time of each and its speed-up over float32 (medians are in the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import yaml

from benchmarks.common import machine as measured_on, write_record
from morph import MORPH, MorphConfig
from morph.precision import autocast
from pde_data import Batch

RECIPE = Path(__file__).resolve().parent.parent / "examples" / "configs" / "recipe.yaml"
CASES = {  # name: (B, t, F, C, (D, H, W), boundaries)
    "1D  B32 t4 F3 C1 W256": (32, 4, 3, 1, (1, 1, 256), ("none", "none", "periodic")),
    "2D  B16 t4 F2 C2 64x64": (16, 4, 2, 2, (1, 64, 64), ("none", "periodic", "periodic")),
    "3D  B4 t4 F2 C3 24^3": (4, 4, 2, 3, (24, 24, 24), ("wall", "wall", "wall")),
}
CONTENDERS = ("float32", "bf16", "compiled")


def recipe_model() -> MORPH:
    sizes = {k: v for k, v in yaml.safe_load(RECIPE.read_text())["model"].items() if k != "preset"}
    return MORPH(MorphConfig.from_preset("Ti", **sizes))


def make_batch(case: str) -> Batch:
    b, t, f, c, grid, boundaries = CASES[case]
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(b, t + 1, f, 3, *grid, generator=generator)  # components padded to 3, as collate does
    mask = torch.zeros(b, f, 3, dtype=torch.bool)
    mask[:, :, :c] = True
    frames[:, :, :, c:] = 0
    spatial = sum(size > 1 for size in grid)
    return Batch(x=frames[:, :t], y=frames[:, t], mask=mask, dataset=case, field_names=tuple(f"u{i}" for i in range(f)),
                 n_spatial_dims=spatial, dataset_mean=torch.zeros(b, f, 3), dataset_std=torch.ones(b, f),
                 traj=torch.arange(b), start=torch.zeros(b, dtype=torch.long), boundaries=boundaries)


def step_functions(contender: str, batch: Batch) -> tuple[Callable[[], None], Callable[[], None]]:
    from morph.predict import predict
    from morph.train.objective import training_loss

    torch.manual_seed(0)
    model = recipe_model()
    forward = torch.compile(model) if contender == "compiled" else model
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    precision = "bf16" if contender == "bf16" else "no"
    history = batch.x.shape[1]

    def train_step() -> None:
        model.train()
        optimiser.zero_grad(set_to_none=True)
        with autocast(precision):
            loss = training_loss(forward, batch, history)
        loss.backward()
        optimiser.step()

    def rollout_step() -> None:
        model.eval()
        with torch.no_grad(), autocast(precision):
            predict(forward, batch.x, batch.mask, boundaries=batch.boundaries)

    return train_step, rollout_step


def time_case(case: str, warmup: int, repeats: int, contenders: tuple[str, ...]) -> dict[str, Any]:
    batch = make_batch(case)
    functions = {name: step_functions(name, batch) for name in contenders}
    times: dict[tuple[str, str], list[float]] = {(n, k): [] for n in contenders for k in ("train", "rollout")}
    for kind_index, kind in enumerate(("train", "rollout")):
        for call in range(warmup + repeats):
            for name in contenders:
                start = time.perf_counter()
                functions[name][kind_index]()
                if call >= warmup:
                    times[name, kind].append(time.perf_counter() - start)
    out: dict[str, Any] = {"batch": batch.x.shape[0]}
    for name in contenders:
        out[name] = {f"{kind}_{stat}_s": (min(v) if stat == "best" else sorted(v)[len(v) // 2])
                     for (n, kind), v in times.items() if n == name for stat in ("best", "median")}
    for name in contenders:
        for kind in ("train", "rollout"):
            out[name][f"{kind}_speedup"] = out["float32"][f"{kind}_best_s"] / out[name][f"{kind}_best_s"]
    return out


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per contender (compilation)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per contender")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if "float32" not in args.contenders:
        parser.error("--contenders: float32 is the reference; keep it")
    torch.set_num_threads(args.threads)
    machine = measured_on()
    results = {case: time_case(case, args.warmup, args.repeats, tuple(args.contenders)) for case in args.cases}
    print(f"{machine['cpu']} ({machine['capability']}, native bf16: {machine['native_bf16']}), "
          f"{args.threads} threads, torch {machine['torch']}; best of {args.repeats}\n")
    print("| case | precision | train samples/s | rollout samples/s | train speed-up | rollout speed-up |")
    print("|---|---|---|---|---|---|")
    for case, r in results.items():
        for name in args.contenders:
            m = r[name]
            print(f"| {case} | {name} | {r['batch'] / m['train_best_s']:.2f} | {r['batch'] / m['rollout_best_s']:.2f} "
                  f"| {m['train_speedup']:.2f}x | {m['rollout_speedup']:.2f}x |")
    if args.json:
        write_record(args.json, {"machine": machine, "cases": results})
    return results


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
