"""Pretrained models side by side on fresh trajectories of every corpus store, beside persistence.

    OMP_NUM_THREADS=2 python benchmarks/starter_eval.py --model new=runs/starter/final --model old=starter \\
        --json runs/starter_eval.json

For each store that `plan_corpus(--scale, seed=--seed)` plans (the default seed 1 gives seeds no
corpus built with the default seed 0 holds), `--n-traj` trajectories are simulated in memory and
every model rolls out from the first `--history` frames of each for `--horizon` steps
(`rollouts.evaluate`, split "all"). Printed: a markdown table of nRMSE (fields averaged) at 1 step
and over the rollout (the mean over its steps), with each model's ratio to persistence, and the
growth of the error (step `--horizon` over step 1) of the model beside persistence's; per model the
geometric mean of those ratios over the stores every model can take, the number of stores where it
is below persistence, the number that are stable as the stress set defines it
(`rollouts.is_stable`: the last step below persistence's, or growing no faster) and the number of
diverged rollouts. A model that cannot take a store (more fields or
components than it was built for) shows "-" there. `--legacy` adds the five original simulators
at `pde_data.generate`'s own defaults (the data the first starter was trained on), fresh seeds.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from pde_data import DataError, generate
from pde_data.files import write_json_atomic
from pde_data.simulators.corpus import SCALES, generate_store, plan_corpus
from morph.checkpoint import load_pretrained
from rollouts import evaluate, is_stable
from rollouts.stress import growth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import cpu_model  # noqa: E402

logger = logging.getLogger("starter_eval")
LEGACY = ("burgers_1d", "euler_1d", "shallow_water_2d", "navier_stokes_2d", "advection_diffusion_3d")
LEGACY_SEED = 987_000


def datasets(args: argparse.Namespace) -> Iterator[tuple[str, Any]]:
    """(row label, PDEDataset) per store, in the corpus plan's order, then the legacy ones; each
    simulated when it is reached."""
    for plan in plan_corpus(args.scale, args.only, seed=args.seed):
        yield plan.path.removesuffix(".zarr"), generate_store(plan, n_traj=args.n_traj)
    if args.legacy:
        for i, name in enumerate(LEGACY):
            yield f"{name} (generate defaults)", generate(name, n_traj=args.n_traj, steps=20, seed=LEGACY_SEED + i)


def score(model: Any, dataset: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """nRMSE (fields averaged) at 1 step and over the rollout, or None if the model cannot take it."""
    try:
        result = evaluate(model, dataset, history=args.history, horizon=args.horizon, split="all")
    except DataError as err:  # DataFitError: more fields or components than the model takes
        logger.info("%s: %s", dataset.spec.name, err)
        return None
    curves = {source: result.summary(source)["mean"]["nrmse"] for source in ("model", "persistence")}
    model, persistence = curves["model"]["per_step"], curves["persistence"]["per_step"]
    return {"step_1": curves["model"]["step_1"], "horizon": curves["model"]["horizon"],
            "persistence_step_1": curves["persistence"]["step_1"],
            "persistence_horizon": curves["persistence"]["horizon"],
            "growth": float(growth(model)[-1]), "persistence_growth": float(growth(persistence)[-1]),
            "stable": is_stable(model, persistence, len(result.diverged)),
            "per_step": model, "persistence_per_step": persistence,
            "diverged": len(result.diverged), "windows": result.n_windows}


def report(rows: dict[str, dict[str, Any]], labels: list[str], horizon: int) -> str:
    def cell(r: dict | None, key: str) -> str:
        if r is None:
            return "-"
        if key == "growth":
            return f"{r['growth']:.3g} / {r['persistence_growth']:.3g}" + ("" if r["stable"] else " **unstable**")
        ratio = r[key] / r[f"persistence_{key}"]
        return f"{r[key]:.4f} ({ratio:.2f})"

    head = " | ".join(f"{label}: 1 step | {label}: {horizon} steps | {label}: growth" for label in labels)
    lines = [f"| store | persistence: 1 step | persistence: {horizon} steps | {head} |",
             "|---" * (3 + 3 * len(labels)) + "|"]
    for name, row in rows.items():
        base = next((r for r in row.values() if r is not None), None)
        if base is None:
            continue
        cells = " | ".join(f"{cell(row[label], 'step_1')} | {cell(row[label], 'horizon')} | "
                           f"{cell(row[label], 'growth')}" for label in labels)
        lines.append(f"| {name} | {base['persistence_step_1']:.4f} | {base['persistence_horizon']:.4f} | {cells} |")
    common = [name for name, row in rows.items() if all(row[label] is not None for label in labels)]
    lines.append("")
    lines.append(f"In brackets: the model's nRMSE over persistence's; growth: step {horizon} over step 1, the "
                 f"model's / persistence's. Over the {len(common)} stores every model takes:")
    for label in labels:
        scored = [rows[name][label] for name in common]
        ratios = {key: [r[key] / r[f"persistence_{key}"] for r in scored] for key in ("step_1", "horizon")}
        mean = {key: statistics.geometric_mean(v) if v else math.nan for key, v in ratios.items()}
        below = {key: sum(ratio < 1 for ratio in v) for key, v in ratios.items()}
        diverged = sum(r["diverged"] for r in scored)
        stable = sum(r["stable"] for r in scored)
        lines.append(f"- {label}: geometric mean {mean['step_1']:.3f} at 1 step (below persistence on "
                     f"{below['step_1']}), {mean['horizon']:.3f} over {horizon} steps (below on "
                     f"{below['horizon']}); stable on {stable} of {len(scored)}; {diverged} of "
                     f"{sum(r['windows'] for r in scored)} rollouts diverged")
    return "\n".join(lines)



def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", metavar="LABEL=PATH",
                        help='a checkpoint ("starter", a checkpoint or run directory) under a label; repeat')
    parser.add_argument("--scale", default="small", choices=list(SCALES))
    parser.add_argument("--seed", type=int, default=1, help="corpus plan seed (0 is the corpus trained on)")
    parser.add_argument("--n-traj", type=int, default=8)
    parser.add_argument("--history", type=int, default=4)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--only", nargs="+", metavar="SIMULATOR")
    parser.add_argument("--legacy", action="store_true", help="also the five original simulators at their defaults")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    specs = args.model or ["starter=starter"]
    if any("=" not in s for s in specs):
        parser.error(f"--model takes LABEL=PATH, got {specs!r}")
    paths = dict(s.split("=", 1) for s in specs)
    models = {label: load_pretrained(path) for label, path in paths.items()}
    started = time.perf_counter()
    rows = {}
    for name, dataset in datasets(args):
        rows[name] = {label: score(model, dataset, args) for label, model in models.items()}
        logger.info("%s done (%.0f s)", name, time.perf_counter() - started)
    text = report(rows, list(models), args.horizon)
    print(text)
    cpu = cpu_model()
    print(f"\n{time.perf_counter() - started:.0f} s on {cpu}")
    result = {"models": paths, "settings": {k: v for k, v in vars(args).items() if k not in ("json", "model")},
              "rows": rows, "cpu": cpu}
    if args.json:
        write_json_atomic(args.json, result, indent=1)  # a diverged rollout's error: null
    return result


if __name__ == "__main__":
    main()
