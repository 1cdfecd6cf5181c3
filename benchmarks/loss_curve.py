"""Training loss curves of one or more runs, one after another on a common step axis (stages of
one model, each started from the last), smoothed, as a PNG for the docs.

    python -m benchmarks.loss_curve examples/starter_corpus_training examples/starter_training \\
        --label "stage 1" --label "stage 2" --out docs/benchmarks/starter_loss.png

Each run directory holds the trainer's `metrics.csv` (step, loss, ...). The loss is the trainer's
objective (squared error in units of each sample's history increment for a model predicting
scaled increments), so stages with other objectives (rollout training's n-th-step loss) sit at
other levels: the curve shows progress within a stage, not between them.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["read_losses", "smooth", "plot_stages"]


def read_losses(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) from `run`/metrics.csv, in step order; SystemExit naming the file when it is
    missing or has no loss column."""
    path = run / "metrics.csv"
    if not path.is_file():
        raise SystemExit(f"{run}: no metrics.csv there; give the output directory of a morph pretrain/finetune run")
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("loss")]
    if not rows:
        raise SystemExit(f"{path}: no rows with a loss")
    steps = np.array([int(r["step"]) for r in rows])
    losses = np.array([float(r["loss"]) for r in rows])
    order = np.argsort(steps, kind="stable")
    return steps[order], losses[order]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """The running median over `window` points (robust to the few batches whose loss is 100x the
    rest), same length as `values`; the window shrinks at the ends."""
    half = max(window, 1) // 2
    return np.array([np.median(values[max(0, i - half): i + half + 1]) for i in range(len(values))])


def plot_stages(runs: list[Path], labels: list[str], out: Path, window: int = 51) -> list[int]:
    """Plot the runs' losses (log scale) one after another; returns each stage's number of steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=90)
    offset, lengths = 0, []
    for run, label in zip(runs, labels):
        steps, losses = read_losses(run)
        ax.plot(steps + offset, losses, color="0.85", linewidth=0.6)
        ax.plot(steps + offset, smooth(losses, window), linewidth=1.6, label=label)
        lengths.append(int(steps[-1]))
        offset += int(steps[-1])
        ax.axvline(offset, color="0.6", linewidth=0.6, linestyle=":")
    ax.set(yscale="log", xlabel="optimiser step (stages one after another)", ylabel="training loss",
           title=f"training loss (grey: per step; line: running median of {window})")
    ax.legend(frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return lengths


def main(argv: Optional[list[str]] = None) -> list[int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories, in training order")
    parser.add_argument("--label", action="append", help="a label per run (default: the directory's name)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--window", type=int, default=51, help="points of the running median")
    args = parser.parse_args(argv)
    labels = args.label or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"--label: give one per run ({len(args.runs)}), got {len(labels)}")
    lengths = plot_stages(args.runs, labels, args.out, args.window)
    print(f"wrote {args.out}: " + ", ".join(f"{label} {n} steps" for label, n in zip(labels, lengths)))
    return lengths


if __name__ == "__main__":
    main()
