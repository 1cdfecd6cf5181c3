"""Recipe ablation: what each pretraining option of the recipe costs or buys in next-step accuracy.

    morph data corpus --out runs/corpus --scale small
    OMP_NUM_THREADS=1 python -m benchmarks.recipe_ablation --corpus runs/corpus --json runs/recipe_ablation.json
    OMP_NUM_THREADS=1 python -m benchmarks.recipe_ablation --variants "all on" "recipe" ...   # some of them

Every variant pretrains the same small MORPH (the default run's size: dim 128, depth 2) with
the recipe's optimiser and schedule (examples/configs/recipe.yaml) for `--steps` steps of batch
`--batch-size` on the same corpus stores (`SIMULATORS`: six 1D and 2D simulators of the small
corpus, seven stores), and differs only in the options of `VARIANTS`; each sets all of them,
so the figures do not move when the recipe's defaults do. Reported per variant: the next-step
validation nRMSE over persistence's, per store and their geometric mean (below 1: better than
"no change"), the mean nRMSE of 10-step rollouts from the validation trajectories over
persistence's (`--horizon`; the rollout is what users feel), and the wall time. One seed per
variant: differences of a few percent are noise. `--precision bf16` trains and evaluates under
bfloat16 autocast (`morph.precision`); its runs go to their own directories.
A finished variant is read back from its `summary.json` in `--work-dir` instead of trained again.
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

RECIPE = Path(__file__).resolve().parent.parent / "examples" / "configs" / "recipe.yaml"
SIMULATORS = ("advection_1d", "burgers_1d", "burgers_2d", "euler_1d", "heat_1d", "navier_stokes_2d")
MODEL = dict(dim=128, heads=4, depth=2, mlp_dim=256)
_ALL_ON = dict(history=4, min_history=1, curriculum_steps=75, unroll=3, noise=0.05, loss_balance="ema", max_ar=4)
VARIANTS: dict[str, dict[str, Any]] = {
    "all on": _ALL_ON,
    "noise off": {**_ALL_ON, "noise": 0.0},
    "unroll off": {**_ALL_ON, "unroll": 1},
    "unroll, noise, balance off": {**_ALL_ON, "unroll": 1, "noise": 0.0, "loss_balance": "none"},
    "history 2 only, all off": dict(history=2, min_history=2, curriculum_steps=0, unroll=1, noise=0.0,
                                    loss_balance="none", max_ar=2),
    "history 2 only, balance": dict(history=2, min_history=2, curriculum_steps=0, unroll=1, noise=0.0,
                                    loss_balance="ema", max_ar=2),
    "recipe": dict(history=4, min_history=2, curriculum_steps=0, unroll=1, noise=0.0, loss_balance="ema", max_ar=4),
}

logger = logging.getLogger("recipe_ablation")


def run_variant(args: argparse.Namespace, name: str) -> dict[str, Any]:
    from morph.train import TrainConfig, train

    out = args.work_dir / (name.replace(" ", "_").replace(",", "") + ("" if args.precision == "no" else
                                                                      f"_{args.precision}"))
    if not (out / "summary.json").is_file():
        options = dict(VARIANTS[name])
        values = yaml.safe_load(RECIPE.read_text())
        values["model"] = {**values["model"], **MODEL, "max_ar": options.pop("max_ar")}
        values.update(options, datasets=[{"source": f"corpus:{args.corpus}", "exclude": args.exclude}],
                      output_dir=str(out), steps=args.steps, batch_size=args.batch_size, warmup_steps=50,
                      batches_per_epoch=args.steps, checkpoint_every=args.steps, val_windows=32, num_workers=0,
                      seed=args.seed, mixed_precision=args.precision)
        started = time.perf_counter()
        train(TrainConfig.from_dict(values), progress=False)
        logger.info("%s: %.1f min", name, (time.perf_counter() - started) / 60)
    summary = json.loads((out / "summary.json").read_text())
    ratios = {store: v["nrmse"] / v["persistence_nrmse"] for store, v in summary["validation"].items()}
    rollout = rollout_ratios(out, args.horizon, args.precision)
    return {"options": VARIANTS[name], "ratios": ratios, "geomean": statistics.geometric_mean(ratios.values()),
            "rollout_ratios": rollout, "rollout_geomean": statistics.geometric_mean(rollout.values()),
            "minutes": summary["seconds"] / 60}


def rollout_ratios(run: Path, horizon: int, precision: str) -> dict[str, float]:
    """Per store of the run: mean nRMSE of `horizon`-step rollouts from its validation trajectories
    (the run's split) over persistence's; read back from `rollout_{horizon}.json` when there."""
    path = run / f"rollout_{horizon}.json"
    if path.is_file():
        return json.loads(path.read_text())
    import pde_data
    from morph.checkpoint import load_pretrained
    from morph.train import TrainConfig
    from morph.train.data import store_labels
    from pde_data.files import write_text_atomic
    from rollouts import evaluate

    model = load_pretrained(run / "final")
    ratios = {}
    sources = TrainConfig.from_run(run).datasets
    for label, source in zip(store_labels(sources), sources):  # keyed as summary.json's validation is
        dataset = pde_data.open(source.source)
        scores = evaluate(model, dataset, horizon=horizon, split="val", precision=precision)
        model_error, persistence_error = (scores.summary(who)["mean"]["nrmse"]["horizon"]
                                          for who in ("model", "persistence"))
        ratios[label] = model_error / persistence_error
    write_text_atomic(path, json.dumps(ratios, indent=2) + "\n")
    return ratios


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("runs/corpus"), help="a small-scale corpus directory")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/recipe_ablation"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("no", "bf16"), default="no",
                        help="train and evaluate in float32 (no) or under bfloat16 autocast")
    parser.add_argument("--horizon", type=int, default=10, help="rollout steps scored")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (args.corpus / "corpus.json").is_file():
        parser.error(f"--corpus {args.corpus}: no corpus there; build one with "
                     f"`morph data corpus --out {args.corpus} --scale small`")
    manifest = json.loads((args.corpus / "corpus.json").read_text())
    in_corpus = {store["simulator"] for store in manifest["stores"].values()}
    args.exclude = sorted(in_corpus - set(SIMULATORS))  # the trainer refuses names the corpus lacks
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("accelerate", "morph", "pde_data"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = {name: run_variant(args, name) for name in args.variants}
    stores = sorted({store for r in results.values() for store in r["ratios"]})
    print(f"next step / {args.horizon}-step rollout, nRMSE over persistence's ({args.precision} precision)\n")
    print("| variant | " + " | ".join(stores) + " | geometric mean | minutes |")
    print("|---" * (len(stores) + 3) + "|")
    for name, r in results.items():
        cells = " | ".join(f"{r['ratios'].get(s, float('nan')):.2f} / {r['rollout_ratios'].get(s, float('nan')):.2f}"
                           for s in stores)
        print(f"| {name} | {cells} | **{r['geomean']:.3f} / {r['rollout_geomean']:.3f}** | {r['minutes']:.1f} |")
    if args.json:
        from pde_data.files import write_text_atomic

        write_text_atomic(args.json, json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                 "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
