"""Which training options keep rollouts stable? nRMSE against horizon, each option on and off.

    OMP_NUM_THREADS=2 python -m benchmarks.rollout_stability --json runs/stability/stability.json
    python -m benchmarks.rollout_stability --quick     # a smoke run: tiny data, a few steps

For each simulator (`--simulators`; by default 1D Burgers (periodic), 1D Euler
(open boundaries, so not periodic) and 2D shallow water (periodic)) a train /
validation / test set is generated once into `--work-dir`, with trajectories
long enough for `--horizon` rollout steps. Then the default small model of
`morph pretrain` (`morph.train.config.DEFAULT_MODEL`) trains on it from scratch,
the same steps, batch and history for every variant:

    baseline     boundary padding and embedding off, no noise, no jitter
    boundaries   boundary padding (wrap periodic axes) and the boundary embedding on
    noise        Gaussian noise on the history frames (`--noise` x each field's scale)
    jitter       the patch grid shifted by 0..`--jitter` cells per batch
    all          the three together

for each seed of `--seeds`. Each model is rolled out from every test window
(history, then `--horizon` steps; `rollouts.evaluate`) and scored by nRMSE per
step (fields averaged), beside persistence. The table gives the mean and spread
(min-max) over seeds at steps 1, 10 and the horizon, and the first step whose
nRMSE exceeds persistence's; `--plot` draws the mean curves. Trainings that
finished with the same settings are reused (`--work-dir` keeps them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

import pde_data
from benchmarks.common import cpu_model

logger = logging.getLogger("rollout_stability")

SIMULATORS = {"burgers_1d": 64, "euler_1d": 64, "shallow_water_2d": 32}  # name -> resolution
VARIANTS = ("baseline", "boundaries", "noise", "jitter", "all")
RESULT_FILE = "stability_run.json"


def variant_settings(variant: str, noise: float, jitter: int) -> dict[str, Any]:
    """TrainConfig changes of a variant: model switches, noise and patch jitter."""
    boundaries = variant in ("boundaries", "all")
    return {"model": {"boundary_padding": boundaries, "boundary_embedding": boundaries},
            "noise": noise if variant in ("noise", "all") else 0.0,
            "patch_jitter": jitter if variant in ("jitter", "all") else 0}


def make_store(name: str, resolution: int, n_traj: int, frames: int, work: Path) -> Path:
    path = work / "data" / f"{name}-n{n_traj}-t{frames}-r{resolution}.zarr"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = pde_data.generate(name, n_traj=n_traj, steps=frames, resolution=resolution, seed=2026)
        pde_data.convert(data, path, progress=False)
    return path


def run_one(store: Path, out: Path, variant: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant with one seed (or reuse a finished training) and score its test rollouts."""
    from morph.checkpoint import load_pretrained
    from morph.train import TrainConfig, train
    from morph.train.config import DEFAULT_MODEL, model_to_dict
    from rollouts import evaluate

    changes = variant_settings(variant, args.noise, args.jitter)
    config = TrainConfig(datasets=[str(store)], model={**model_to_dict(DEFAULT_MODEL), **changes["model"]}, history=args.history,
                         batch_size=args.batch_size, steps=args.steps, seed=seed, output_dir=str(out),
                         checkpoint_every=args.steps, keep_checkpoints=1, val_windows=16,
                         noise=changes["noise"], patch_jitter=changes["patch_jitter"])
    settings = {"config": config.to_dict(), "horizon": args.horizon}
    saved = out / RESULT_FILE
    if saved.is_file() and json.loads(saved.read_text()).get("settings") == settings:
        logger.info("reusing %s", out)
        return json.loads(saved.read_text())
    start = time.perf_counter()
    train(config, progress=False)
    seconds = time.perf_counter() - start
    model = load_pretrained(out)
    result = evaluate(model, pde_data.open(store), horizon=args.horizon, history=args.history, split="test",
                      stride=args.horizon)
    curves = {source: result.summary(source)["mean"]["nrmse"]["per_step"] for source in ("model", "persistence")}
    run = {"settings": settings, "seconds": seconds, "windows": result.n_windows,
           "diverged": len(result.diverged), **curves}
    saved.write_text(json.dumps(run, indent=2, default=float) + "\n")
    return run


def first_above(model: list[float], persistence: list[float]) -> int | None:
    """The first step (1-based) whose nRMSE exceeds persistence's, or None."""
    return next((k + 1 for k, (m, p) in enumerate(zip(model, persistence)) if not m <= p), None)


def table(results: dict[str, dict[str, list[dict[str, Any]]]], horizon: int) -> str:
    steps = sorted({1, min(10, horizon), horizon})
    head = " | ".join(f"nRMSE step {k}" for k in steps)
    lines = [f"| simulator | variant | {head} | first step worse than persistence | seconds |",
             "|---|---|" + "---|" * len(steps) + "---|---|"]
    for name, per_variant in results.items():
        persistence = per_variant["baseline"][0]["persistence"]
        for variant, runs in per_variant.items():
            cells = []
            for k in steps:
                values = np.array([r["model"][k - 1] for r in runs], dtype=float)
                cells.append(f"{np.nanmean(values):.3f} ({np.nanmin(values):.3f}-{np.nanmax(values):.3f})")
            firsts = [first_above(r["model"], r["persistence"]) for r in runs]
            shown = ", ".join("never" if f is None else str(f) for f in firsts)
            seconds = np.mean([r["seconds"] for r in runs])
            lines.append(f"| {name} | {variant} | {' | '.join(cells)} | {shown} | {seconds:.0f} |")
        cells = " | ".join(f"{persistence[k - 1]:.3f}" for k in steps)
        lines.append(f"| {name} | persistence | {cells} | | |")
    return "\n".join(lines)


def plot(results: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.2), squeeze=False)
    for ax, (name, per_variant) in zip(axes[0], results.items()):
        for variant, runs in per_variant.items():
            curve = np.nanmean([r["model"] for r in runs], axis=0)
            ax.plot(np.arange(1, curve.size + 1), curve, label=variant)
        persistence = per_variant["baseline"][0]["persistence"]
        ax.plot(np.arange(1, len(persistence) + 1), persistence, "k--", label="persistence")
        ax.set(title=name, xlabel="rollout step", ylabel="test nRMSE", yscale="log")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulators", nargs="+", default=list(SIMULATORS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per training")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--history", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--n-traj", type=int, default=30, help="trajectories per simulator (80/10/10 split)")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--jitter", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/stability"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny data and a few steps (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.horizon, args.n_traj, args.seeds = 4, 5, 10, args.seeds[:1]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    start = time.perf_counter()
    stores = {name: make_store(name, 16 if args.quick else SIMULATORS.get(name, 32), args.n_traj,
                               args.history + args.horizon + 1, args.work_dir) for name in args.simulators}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {n: {v: [] for v in args.variants} for n in stores}
    for seed in args.seeds:  # seed by seed, so an interrupted run has every variant for its first seeds
        for name, store in stores.items():
            for variant in args.variants:
                run = run_one(store, args.work_dir / name / variant / f"seed{seed}", variant, seed, args)
                results[name][variant].append(run)
                logger.info("%s %s seed %d: done", name, variant, seed)
    text = table(results, args.horizon)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{text}\n\n{len(args.simulators) * len(args.variants) * len(args.seeds)} trainings of {args.steps} "
          f"steps x batch {args.batch_size}, history {args.history}; {minutes:.1f} min on {cpu_model()}"
          f" ({os.cpu_count()} CPUs), {date.today()}")
    if args.plot is not None:
        plot(results, args.plot)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results,
                                         "table": text, "minutes": minutes}, indent=2, default=float) + "\n")
    return results


if __name__ == "__main__":
    main()
