"""MORPH shapes from scratch against the FNO and U-Net at equal wall-clock, on the held-out families.

    OMP_NUM_THREADS=2 python -m benchmarks.shapes --work-dir runs/shapes --minutes 3 --seeds 3 \
        --json runs/shapes/shapes.json
    python -m benchmarks.shapes --quick --work-dir /tmp/shapes          # a smoke run

(from the repository root: it imports the held-out families from benchmarks.transfer).

Every model trains from random weights for the same wall-clock budget (`--minutes`, the trainer's
`max_minutes`: as many steps as fit, the schedule fitted to them) on `--shots` training
trajectories of each held-out family of benchmarks/transfer.py (the same data, seeds and split),
then is scored on its test split: nRMSE (fields averaged) at one step and over a `--horizon`-step
rollout, beside persistence. `SHAPES` are MORPH variants of the recipe's model (dim 192, depth 4):
the patch size and the convolutional refinement head (`MorphConfig.refine_channels`); the FNO and
U-Net are benchmarks/transfer.py's. All train in the precision `mixed_precision: auto` picks
(bfloat16 on a CPU with native bfloat16). Equal wall-clock is only fair on an otherwise idle
machine: run nothing else beside it. Finished trainings are read back from `--work-dir`.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any, Optional

import yaml

import pde_data
from pde_data.files import write_text_atomic

from benchmarks.common import cpu_model
from benchmarks.transfer import FAMILIES, MODELS, QUICK_BASELINES, QUICK_MODEL, RECIPE, held_out_data

logger = logging.getLogger("shapes")

#: MORPH variants: MorphConfig overrides of the recipe's model.
SHAPES: dict[str, dict[str, Any]] = {
    "MORPH p4": {"patch_size": 4},
    "MORPH p4 + refine": {"patch_size": 4, "refine_channels": 16},
    "MORPH p2 + refine": {"patch_size": 2, "refine_channels": 16},
}
BASELINES = {"FNO": MODELS["FNO scratch"], "U-Net": MODELS["U-Net scratch"]}
#: Learning rates: MORPH from scratch as adapters.finetune trains it, the baselines as transfer.py does.
LR = {"morph": 3e-3, "fno": 1e-3, "unet": 1e-3}


def model_settings(label: str, quick: bool) -> dict[str, Any]:
    if label in BASELINES:
        how = dict(BASELINES[label])
        return {**how, **QUICK_BASELINES[how["arch"]]} if quick else how
    recipe = yaml.safe_load(RECIPE.read_text())["model"]
    return {**recipe, **(QUICK_MODEL if quick else {}), **SHAPES[label]}


def train_and_score(args: argparse.Namespace, store: Path, label: str, seed: int) -> dict[str, Any]:
    """One training of `label` on `store` for `--minutes`, scored on the test split (read back when done)."""
    from morph.checkpoint import load_pretrained
    from morph.train import TrainConfig, train
    from rollouts import compare

    out = args.work_dir / "runs" / store.stem / label.replace(" ", "_").replace("+", "") / f"s{seed}"
    result_path = out / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    model = model_settings(label, args.quick)
    arch = model.get("arch", "morph")
    config = TrainConfig(datasets=[dict(source=str(store), max_train_traj=args.shots)], model=model,
                         history=args.history, lr=LR[arch], steps=100_000, max_minutes=args.minutes,
                         batch_size=args.batch_size, seed=seed, warmup_steps=20, checkpoint_every=100_000,
                         keep_checkpoints=1, val_windows=8, output_dir=str(out), cache_dir=str(args.work_dir / "cache"))
    started = time.perf_counter()
    trained = train(config, progress=False)
    rows = compare({"model": load_pretrained(out)}, pde_data.open(store), history=args.history,
                   horizon=args.horizon, split="test", split_seed=0).rows
    result = {"label": label, "seed": seed, "model": rows["model"], "persistence": rows["persistence"],
              "steps": trained.steps, "seconds": time.perf_counter() - started,
              "parameters": sum(p.numel() for p in load_pretrained(out).parameters())}
    write_text_atomic(result_path, json.dumps(result, indent=2))
    return result


def _mean_spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def table(results: dict[str, dict[str, list[dict[str, Any]]]], horizon: int) -> str:
    lines = [f"| family | model | steps | 1 step | {horizon}-step mean | 1 step / U-Net's |", "|---|---|---|---|---|---|"]
    for family, per_model in results.items():
        unet = statistics.mean(r["model"]["step_1"] for r in per_model.get("U-Net", [])) if "U-Net" in per_model \
            else float("nan")
        for label, runs in per_model.items():
            one = [r["model"]["step_1"] for r in runs]
            lines.append(f"| {family} | {label} | {round(statistics.mean(r['steps'] for r in runs))} | "
                         f"{_mean_spread(one)} | {_mean_spread([r['model']['horizon'] for r in runs])} | "
                         f"{statistics.mean(one) / unet:.2f} |")
        first = next(iter(per_model.values()))[0]["persistence"]
        lines.append(f"| {family} | persistence | | {first['step_1']:.4f} | {first['horizon']:.4f} | |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/shapes"))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--models", nargs="+", default=[*SHAPES, *BASELINES], choices=[*SHAPES, *BASELINES])
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-clock budget of every training")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shots", type=int, default=32, help="training trajectories")
    parser.add_argument("--n-traj", type=int, default=48, help="trajectories per family (as transfer.py)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--history", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="tiny models, data and budget: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_traj, args.frames, args.minutes, args.seeds, args.shots, args.horizon = 10, 8, 0.05, 1, 8, 2
        args.history, args.scale = 2, "tiny"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("accelerate", "morph", "pde_data", "rollouts"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for index, family in enumerate(FAMILIES):
        if family not in args.families:
            continue
        store = held_out_data(args, index, family)
        for label in args.models:
            for seed in range(args.seeds):
                run = train_and_score(args, store, label, seed)
                results.setdefault(family, {}).setdefault(label, []).append(run)
                logger.info("%s %s seed %d: %d steps, 1 step %.4f, %d-step %.4f", family, label, seed, run["steps"],
                            run["model"]["step_1"], args.horizon, run["model"]["horizon"])
    text = table(results, args.horizon)
    print(f"\n{cpu_model()}; {args.minutes} min per training, {args.shots} trajectories, {args.seeds} seeds "
          f"(mean, min-max)\n\n{text}")
    if args.json:
        write_text_atomic(args.json, json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                 "cpu": cpu_model(), "results": results,
                                                 "minutes": (time.perf_counter() - started) / 60}, indent=2))
    return results


if __name__ == "__main__":
    main()
