"""MORPH against an FNO and a U-Net at an equal wall-clock training budget, per dataset.

    OMP_NUM_THREADS=2 python -m benchmarks.accuracy --seconds 60 --seeds 3 --out runs/accuracy
    python -m benchmarks.accuracy --datasets burgers_1d --seconds 5 --seeds 1   # a smoke run

On a machine that other jobs keep busy use OMP_NUM_THREADS=1: with two OpenMP threads and
no idle core each parallel region waits for a descheduled thread, and a model of many small
operations (the FNO here) slows down up to 100x (2.6 s against 0.02 s per step measured).

For each built-in simulator (`--datasets`, default all five: the data of the default
`morph pretrain` mix, 32 trajectories x 20 frames) and each architecture (`--archs`:
MORPH trained from scratch on that dataset alone, with the small model of the default
run; neuraloperator's FNO; MONAI's U-Net; MORPH pretrained on the mix, the `--pretrained`
checkpoint, then fine-tuned on that dataset), one run per seed goes through the same trainer
(`morph.train.train`, history 2, batch 8, AdamW, warmup + cosine) for about `--seconds`
seconds of training steps on this machine: the best of a few timed training steps gives
the seconds per step, and every seed's run is given as many steps as fit in the budget at
that speed (its schedule fits the run). The table reports that budget's steps and the
seconds the steps actually took (more on a busy machine). Each model is then scored on the
dataset's test split (`rollouts.evaluate`: every window, a history of 2 frames then a
10-step rollout) with nRMSE and VRMSE at one step and averaged over the 10 steps, beside
persistence ("no change"); plus the parameter count, the seconds the training steps took
and the training samples/s (of the fastest step: the machine is shared).

The pretrained row: `--pretrained` (default "starter", the shipped model: pretrained on the
default mix of five simulators, these datasets among them; other trajectories of the same
simulators, no test trajectory seen) is fine-tuned in full, level 4 of `adapters.levels`
(every parameter trains, from the checkpoint's weights: the trainer's `init_checkpoint`, what
`morph finetune --level 4` runs), because from scratch every parameter trains too: only the
starting weights differ, so the row measures what pretraining gives. Its learning rate is
`--finetune-lr` (`adapters.finetune.DEFAULT_LR[4]`, the level's default, chosen with
benchmarks/transfer.py; 1e-3 in the tables made before 2026-12-08); batch, warmup, seeds, budget and evaluation are the others'. Its
step time is measured the same way, on the checkpoint's model, so it gets fewer steps than
the smaller scratch MORPH, and its params column counts the checkpoint's model. History: the
starter reads up to 4 frames (max_ar 4) and was trained on 2-4 (min_history 2), so the
table's history 2 fits it, in training and in the evaluation; a checkpoint that cannot take
`--history` frames is refused. Its zero-shot score (the checkpoint as it is, no training) is
a row of its own, like persistence.

Writes `accuracy.md` (mean +- std over seeds) and `accuracy.json` (every run) to `--out`.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import logging
import math
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import rollouts
from benchmarks import common
from adapters.finetune import DEFAULT_LR
from morph.checkpoint import load_pretrained
from morph.checkpoint.architectures import build_model
from morph.train import TrainConfig, train
from morph.train.config import DEFAULT_MIX, DEFAULT_MODEL, model_to_dict
from morph.train.data import build_data, resolve_source
from morph.train.objective import training_loss

logger = logging.getLogger("accuracy")

#: The sizes of each architecture: MORPH as in the default run; the baselines at common small widths.
MODELS: dict[str, dict[str, Any]] = {
    "morph": model_to_dict(DEFAULT_MODEL),
    "fno": {"arch": "fno", "hidden_channels": 32, "n_modes": 16, "n_layers": 4},
    "unet": {"arch": "unet", "features": 16},
}
#: The checkpoint fine-tuned in full (level 4); its model is the checkpoint's (`_checkpoint_model`).
PRETRAINED = "pretrained"
ZERO_SHOT = "zero_shot"
LABELS = {"morph": "MORPH (scratch)", "fno": "FNO", "unet": "U-Net", PRETRAINED: "MORPH (pretrained + fine-tuned)",
          ZERO_SHOT: "MORPH (pretrained, zero-shot)"}
METRICS = ("nrmse", "vrmse")


def _step_seconds(run: Path, batch_size: int) -> list[float]:
    """Seconds of each optimiser step of a run (from its metrics.csv), the first one left out."""
    with (run / "metrics.csv").open() as f:
        rates = [float(r["samples_per_s"]) for r in csv.DictReader(f)][1:]
    return [batch_size / r for r in rates if r > 0]


@functools.lru_cache(maxsize=None)
def _checkpoint_model(checkpoint: str) -> dict[str, Any]:
    """The model keys of a checkpoint's architecture for a TrainConfig (as `morph finetune` gives them)."""
    return model_to_dict(load_pretrained(checkpoint).config)


def _config(dataset: str, arch: str, seed: int, steps: int, args: argparse.Namespace, out: Path) -> TrainConfig:
    pretrained = arch == PRETRAINED
    return TrainConfig(datasets=[dict(source=dataset, n_traj=args.n_traj, steps=args.frames)],
                       model=_checkpoint_model(args.pretrained) if pretrained else dict(MODELS[arch]),
                       init_checkpoint=args.pretrained if pretrained else None, history=args.history,
                       batch_size=args.batch_size, steps=steps, warmup_steps=min(50, max(1, steps // 10)),
                       lr=args.finetune_lr if pretrained else args.lr, seed=seed, output_dir=str(out),
                       checkpoint_every=max(steps, 1), keep_checkpoints=1, val_windows=16,
                       cache_dir=args.cache_dir)


def calibrate(dataset: str, arch: str, args: argparse.Namespace) -> tuple[int, float]:
    """(steps that fit in `args.seconds`, seconds per step) for `arch` on `dataset`: the best of
    `args.probe_steps` timed training steps (loss, backward, AdamW) on batches of the run's data.
    The best, not the mean: the machine is shared, and a busy moment should not shrink the
    budget. Every seed then trains that many steps."""
    config = _config(dataset, arch, 0, 1, args, Path(args.out) / "runs" / "probe")
    spec = resolve_source(config.datasets[0], config.cache).spec
    model_config = config.model_config(spec)
    data = build_data(config, model_config)
    torch.manual_seed(0)
    model = (load_pretrained(config.init_checkpoint) if config.init_checkpoint else build_model(model_config)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    batches = iter(data.loader)
    times = []
    for _ in range(args.probe_steps):
        batch = next(batches)
        start = time.perf_counter()
        training_loss(model, batch, args.history).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    per_step = min(times[1:])
    return max(1, int(args.seconds / per_step)), per_step


def run_one(dataset: str, arch: str, seed: int, steps: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train `arch` on `dataset` for `steps` steps, then score it on the test split."""
    work = Path(args.out) / "runs" / f"{dataset}-{arch}-s{seed}"
    shutil.rmtree(work, ignore_errors=True)
    config = _config(dataset, arch, seed, steps, args, work)
    start = time.perf_counter()
    result = train(config, progress=False)
    wall = time.perf_counter() - start
    spent = _step_seconds(result.output_dir, args.batch_size)
    row = {"dataset": dataset, "arch": arch, "seed": seed, "steps": steps,
           "train_seconds": sum(spent) + (statistics.median(spent) if spent else 0.0),  # first step at the median
           "run_wall_seconds": wall,
           "samples_per_s": args.batch_size / min(spent) if spent else float("nan"),
           **score(load_pretrained(result.output_dir), config, args)}
    if not args.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("%s %s seed %d: %d steps in %.1f s, nRMSE 1 step %.4g, %d steps %.4g", dataset, arch, seed, steps,
                row["train_seconds"], row["nrmse_1"], args.horizon, row["nrmse_h"])
    return row


def score(model: torch.nn.Module, config: TrainConfig, args: argparse.Namespace) -> dict[str, Any]:
    """The table's figures of `model` on the test split of `config`'s dataset (the trajectories every
    run of that dataset holds out), beside persistence; and its parameter count."""
    store = resolve_source(config.datasets[0], config.cache)
    scores = rollouts.evaluate(model, store, horizon=args.horizon, history=args.history, split="test",
                               split_seed=config.split_seed, batch_size=16)
    model_summary, persistence = scores.summary("model")["mean"], scores.summary("persistence")["mean"]
    row = {"params": sum(p.numel() for p in model.parameters()), "windows": scores.n_windows,
           "diverged": len(scores.diverged)}
    for metric in METRICS:
        row[f"{metric}_1"] = model_summary[metric]["step_1"]
        row[f"{metric}_h"] = model_summary[metric]["horizon"]
        row[f"persistence_{metric}_1"] = persistence[metric]["step_1"]
        row[f"persistence_{metric}_h"] = persistence[metric]["horizon"]
    return row


def zero_shot(dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """The `--pretrained` checkpoint scored as it is (no training): one row, like persistence."""
    config = _config(dataset, PRETRAINED, 0, 1, args, Path(args.out) / "runs" / "zero-shot")
    row = {"dataset": dataset, "arch": ZERO_SHOT, "seed": None, "steps": 0, "train_seconds": 0.0,
           "run_wall_seconds": 0.0, "samples_per_s": float("nan"), "best_step_seconds": 0.0,
           **score(load_pretrained(args.pretrained), config, args)}
    logger.info("%s %s zero-shot: nRMSE 1 step %.4g, %d steps %.4g", dataset, args.pretrained, row["nrmse_1"],
                args.horizon, row["nrmse_h"])
    return row


def _cell(values: list[float], digits: str = ".4f") -> str:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return "inf"
    if len(values) == 1:
        return format(values[0], digits)
    return f"{statistics.mean(values):{digits}} ± {statistics.stdev(values):{digits}}"


def table(rows: list[dict[str, Any]], horizon: int) -> str:
    """Markdown: per dataset, each architecture (mean ± std over seeds) and persistence."""
    lines = [f"| dataset | model | params | seeds | steps | train s (budget) | samples/s | nRMSE 1 step | "
             f"nRMSE {horizon}-step mean | VRMSE 1 step | VRMSE {horizon}-step mean |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        for arch in dict.fromkeys(r["arch"] for r in mine):
            runs = [r for r in mine if r["arch"] == arch]
            pick = lambda key: [r[key] for r in runs]  # noqa: E731
            training = (f"{len(runs)} | {round(statistics.mean(pick('steps')))} "
                        f"| {statistics.mean(pick('train_seconds')):.1f} "
                        f"({runs[0]['steps'] * runs[0]['best_step_seconds']:.1f}) "
                        f"| {statistics.mean(pick('samples_per_s')):.0f}") if arch != ZERO_SHOT else "- | 0 | - | -"
            lines.append(f"| {dataset} | {LABELS.get(arch, arch)} | {runs[0]['params']:,} | {training} "
                         f"| {_cell(pick('nrmse_1'))} | {_cell(pick('nrmse_h'))} | {_cell(pick('vrmse_1'))} "
                         f"| {_cell(pick('vrmse_h'))} |")
        first = mine[0]
        lines.append(f"| {dataset} | persistence | 0 | - | - | - | - | {first['persistence_nrmse_1']:.4f} "
                     f"| {first['persistence_nrmse_h']:.4f} | {first['persistence_vrmse_1']:.4f} "
                     f"| {first['persistence_vrmse_h']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_MIX), help="built-in simulators")
    parser.add_argument("--archs", nargs="+", default=[*MODELS, PRETRAINED], choices=[*MODELS, PRETRAINED],
                        help=f"{PRETRAINED}: the --pretrained checkpoint fine-tuned in full, and its zero-shot row")
    parser.add_argument("--pretrained", default="starter", metavar="CHECKPOINT",
                        help="the pretrained model to fine-tune (\"starter\", a checkpoint or run directory)")
    parser.add_argument("--finetune-lr", type=float, default=DEFAULT_LR[4],
                        help="peak learning rate of the fine-tune (level 4's default)")
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget per run (seconds of steps)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per dataset and architecture (seeds 0..N-1)")
    parser.add_argument("--probe-steps", type=int, default=12, help="timed steps that measure the step time")
    parser.add_argument("--history", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-traj", type=int, default=32, help="trajectories per dataset")
    parser.add_argument("--frames", type=int, default=20, help="frames per trajectory")
    parser.add_argument("--cache-dir", default=None, help="data cache (default: morph pretrain's)")
    parser.add_argument("--out", default="runs/accuracy", help="output directory (accuracy.md, accuracy.json)")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("accelerate", "morph", "pde_data"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.frames < args.history + args.horizon:
        parser.error(f"--frames {args.frames} leaves no {args.horizon}-step rollout after a history of {args.history}")
    if PRETRAINED in args.archs and _checkpoint_model(args.pretrained)["max_ar"] < args.history:
        parser.error(f"--pretrained {args.pretrained} reads at most {_checkpoint_model(args.pretrained)['max_ar']} "
                     f"frames; --history {args.history} does not fit it")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = []
    for dataset in args.datasets:
        for arch in args.archs:
            steps, per_step = calibrate(dataset, arch, args)
            logger.info("%s %s: %.3f s per step at best, %d steps in %g s", dataset, arch, per_step, steps,
                        args.seconds)
            for seed in range(args.seeds):
                rows.append({**run_one(dataset, arch, seed, steps, args), "best_step_seconds": per_step})
        if PRETRAINED in args.archs:
            rows.append(zero_shot(dataset, args))
    machine = common.machine()
    markdown = table(rows, args.horizon)
    (out / "accuracy.md").write_text(markdown + "\n")
    (out / "accuracy.json").write_text(json.dumps({"args": vars(args), "machine": machine, "runs": rows,
                                                   "seconds": time.perf_counter() - started}, indent=2) + "\n")
    print(markdown)
    print(f"\n{machine['cpu']}, {machine['threads']} threads, {machine['date']}; "
          f"{time.perf_counter() - started:.0f} s in all; {out / 'accuracy.json'}")


if __name__ == "__main__":
    main()
