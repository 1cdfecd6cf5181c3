"""Leave-family-out transfer: does pretraining help on PDE families the model never saw?

    OMP_NUM_THREADS=2 python -m benchmarks.transfer --work-dir runs/transfer --json runs/transfer/transfer.json
    python -m benchmarks.transfer --pretrained runs/transfer/pretrain ...   # reuse a pretraining
    python -m benchmarks.transfer --quick --work-dir /tmp/transfer          # a smoke run, about 20 s

Rerunning the same command continues where it stopped: the corpus build resumes, the
pretraining resumes from its latest checkpoint (the trainer's --resume), and every
finished training or evaluation is read back from its `result.json` in `--work-dir`
(written atomically) instead of run again. `--reuse JSON` takes them from an earlier run's
`--json` record as well (another work directory or checkout, a GPU machine's run): a result is
taken when its settings match (the base's weights, the data store's name, the model, steps, batch
and seed), so a table too long for one session is finished in the next.

Held-out families (`FAMILIES`; each left out of pretraining with its relatives, then tested
on one simulator of it), chosen from docs/corpus.md:

- `kdv_1d` (1D, periodic, one field): dispersive solitons; nothing in the rest of the corpus
  is dispersive-nonlinear (burgers_1d and advection_1d, its nearest kin, stay in).
- `wave_3d` (3D, two fields u and u_t, Dirichlet walls, its default): a second-order
  hyperbolic system; `wave_2d` is left out too, so the whole wave family is unseen.
- `shallow_water_2d` run with reflective walls (the wall variant the corpus has; two fields,
  height and a 2-vector velocity): a walled basin flow; euler_1d/2d (compressible flow)
  stay in as the nearest relatives.
- `fitzhugh_nagumo_2d` (two fields, activator and inhibitor, Neumann walls, its default): an
  excitable reaction-diffusion system; gray_scott_2d (another two-field one) stays in.

So among them a 1D one, a 3D one, three run with walls and three with two or more fields.

Steps:
1. Corpus: `build_corpus(--corpus, --scale)` (resumes; `--quick`: a tiny corpus of two simulators).
2. Pretraining: the recipe (`--recipe`, examples/configs/recipe.yaml) on `corpus:DIR` with the
   held-out families in `exclude`; `--pretrain-steps`, `--pretrain-batch` and `--model KEY=VALUE`
   override its sizes. Or `--pretrained PATH` reuses a checkpoint made before.
3. Held-out data: `pde_data.generate` per family, `--n-traj` trajectories of `--frames` frames
   at the corpus scale's resolution, seeds from `DATA_SEED` on (the corpus's stores use seeds
   below 100_003 * (seed + 1), so none is shared), split train/val/test by trajectory
   (pde_data's 0.8 / 0.1 / 0.1, split seed 0; every model below sees the same split).
4. Per family, on its test split (every window: `--history` frames, then a `--horizon`-step
   rollout; nRMSE with the fields averaged, at 1 step and the mean over the rollout):
   zero-shot (the pretrained model, grown to the family's fields when needed) and persistence;
   then for each `--shots` (training trajectories) and each of `--seeds` training seeds, the
   five models of `MODELS`, each trained with the same `--steps`, `--batch-size`, history and
   trajectories: LoRA (level 1) and full fine-tuning (level 4) of the pretrained model
   (`adapters.finetune`), the same MORPH architecture from scratch, and FNO and U-Net from
   scratch (`morph.train.train` with `arch` fno / unet; needs morph-pde[baselines]).
   `--scratch-shots` trains the three from-scratch models on more trajectories as well;
   `--zero-shot-only` stops after zero-shot and persistence (the first target only).
5. Report: a markdown table (mean +- std over seeds), data efficiency (the fewest trajectories
   of those measured with which each from-scratch model matches the better fine-tuned model at
   the smallest shot count, or "not reached"), and the targets of issue 17 as met / missed with
   their figures. `--json` writes every figure (each seed, per-step curves, the min and max).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

import pde_data
from benchmarks.common import cpu_model, stats
from pde_data.files import write_text_atomic
from pde_data.simulators import SIMULATORS
from pde_data.simulators.corpus import MANIFEST, SCALES, build_corpus


logger = logging.getLogger("transfer")

REPOSITORY = Path(__file__).resolve().parent.parent
RECIPE = REPOSITORY / "examples" / "configs" / "recipe.yaml"
RESULT = "result.json"
#: First seed of the held-out data (family i uses DATA_SEED + i): far from the corpus's store seeds.
DATA_SEED = 10_000_000
#: The simulators of the `--quick` corpus (none of them held out).
QUICK_CORPUS = ("burgers_1d", "heat_3d")
#: The tiny MORPH of `--quick` (pretraining and every MORPH trained here).
QUICK_MODEL = dict(dim=32, heads=2, depth=1, mlp_dim=64, heads_xa=2)


@dataclass(frozen=True)
class Family:
    """A held-out family: `simulator` is tested (run with `boundary`; None: its default), and
    every simulator of `relatives` (itself included) is left out of pretraining."""

    simulator: str
    boundary: Optional[str]
    relatives: tuple[str, ...]
    why: str


FAMILIES: dict[str, Family] = {
    "kdv_1d": Family("kdv_1d", None, ("kdv_1d",), "1D"),
    "wave_3d": Family("wave_3d", None, ("wave_2d", "wave_3d"), "3D, 2 fields, walls"),
    "shallow_water_2d": Family("shallow_water_2d", "reflective", ("shallow_water_2d",), "walls, 2 fields"),
    "fitzhugh_nagumo_2d": Family("fitzhugh_nagumo_2d", None, ("fitzhugh_nagumo_2d",), "2 fields, walls"),
}


def left_out(families: Optional[list[str]] = None) -> set[str]:
    """The simulators pretraining leaves out for `families` (default: every held-out family)."""
    return {name for family in (FAMILIES if families is None else families) for name in FAMILIES[family].relatives}


#: The trained models: label -> how (FinetuneConfig keys, or a baseline's model settings).
MODELS: dict[str, dict[str, Any]] = {
    "LoRA (L1)": {"level": 1},
    "full (L4)": {"level": 4},
    "MORPH scratch": {"level": 4, "from_scratch": True},
    "FNO scratch": {"arch": "fno", "hidden_channels": 32, "n_modes": 12, "n_layers": 4},
    "U-Net scratch": {"arch": "unet", "features": 16},
}
QUICK_BASELINES = {"fno": {"hidden_channels": 8, "n_modes": 4, "n_layers": 2}, "unet": {"features": 4}}
#: The models trained from random weights (those `--scratch-shots` trains).
SCRATCH = ["MORPH scratch", "FNO scratch", "U-Net scratch"]
#: The learning rate of the FNO and U-Net (benchmarks/accuracy.py's); MORPH's come from adapters.finetune.
BASELINE_LR = 1e-3


# --- the expensive, resumable parts ----------------------------------------------------------


def _plain(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` as its JSON record holds them (paths and numbers as strings and floats)."""
    return json.loads(json.dumps(settings, default=str))


def _key(settings: dict[str, Any]) -> str:
    """The canonical text of `settings`: the lookup key of `--reuse`."""
    return json.dumps(_plain(settings), sort_keys=True)


def _done(out: Path, settings: dict[str, Any], reused: Optional[dict[str, dict[str, Any]]] = None
          ) -> Optional[dict[str, Any]]:
    """The result saved in `out` by a finished run with the same settings, else the one of an
    earlier record (`--reuse`) with the same settings (then saved in `out` too), else None."""
    path = out / RESULT
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("settings") == _plain(settings):
            return saved
    earlier = (reused or {}).get(_key(settings))
    if earlier is not None:
        if out.exists():
            shutil.rmtree(out)  # an interrupted training, or one with other settings
        out.mkdir(parents=True)
        earlier = {**earlier, "settings": _plain(settings)}  # as this version writes them (`_with_rate`)
        write_text_atomic(path, json.dumps(earlier, indent=2, default=float) + "\n")
    return earlier


def load_reused(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Every finished evaluation and training in earlier `--json` records (complete or written
    part way, after each model), by its settings."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            record = json.loads(path.read_text())
            families = record["results"].values()
            runs = [family["zero_shot"] for family in families]
            runs += [run for family in families for per_shots in family["runs"].values()
                     for seeds in per_shots.values() for run in seeds]
            found.update((_key(_with_rate(run)), run) for run in runs)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"--reuse {path}: not a record written by transfer.py --json ({type(err).__name__}: "
                             f"{err}); give the JSON file an earlier run wrote") from None
    return found


def _with_rate(run: dict[str, Any]) -> dict[str, Any]:
    """A run's settings, a fine-tune's with its learning rate: records written before the rate
    was a setting hold it beside the result only."""
    settings, how = run["settings"], run["settings"].get("how", {})
    if "level" in how and not how.get("from_scratch") and "lr" not in settings and "lr" in run:
        return {**settings, "lr": run["lr"]}
    return settings


def _save(out: Path, settings: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    record = {**result, "settings": _plain(settings)}
    write_text_atomic(out / RESULT, json.dumps(record, indent=2, default=float) + "\n")
    return record


def corpus(args: argparse.Namespace) -> Path:
    """The corpus to pretrain on, built (or its interrupted build finished) in `--corpus`."""
    only = list(QUICK_CORPUS) if args.quick else None
    manifest_path = args.corpus / MANIFEST
    if manifest_path.is_file() and json.loads(manifest_path.read_text()).get("complete"):
        logger.info("corpus: %s (complete)", args.corpus)
        return args.corpus
    start = time.perf_counter()
    manifest = build_corpus(args.corpus, scale=args.scale, only=only, progress=args.progress)
    logger.info("corpus %s: %d stores in %.0f s -> %s", args.scale, manifest["n_stores"],
                time.perf_counter() - start, args.corpus)
    return args.corpus


def pretrain(args: argparse.Namespace, corpus_dir: Path) -> Path:
    """The recipe on the corpus less the held-out families: the run directory (a checkpoint).
    Resumes an interrupted pretraining in `--work-dir/pretrain`; a finished one is kept."""
    from morph.train import TrainConfig, train
    from morph.train.config import model_to_dict
    from morph.train.config_files import read_config_file
    from morph.train.loop import STATE_DIR
    from morph.train.state import latest_training_state

    out = args.work_dir / "pretrain"
    held = left_out(args.families)
    in_corpus = {store["simulator"] for store in json.loads((corpus_dir / MANIFEST).read_text())["stores"].values()}
    values = read_config_file(args.recipe)
    values.update(datasets=[{"source": f"corpus:{corpus_dir}", "exclude": sorted(held & set(in_corpus))}],
                  output_dir=str(out), cache_dir=str(args.work_dir / "cache"))
    values["model"] = {**values.get("model", {}), **args.model}
    if args.pretrain_steps is not None:
        steps = args.pretrain_steps
        values.update(steps=steps, warmup_steps=max(1, steps // 20), curriculum_steps=steps // 20,
                      checkpoint_every=max(1, min(values.get("checkpoint_every", steps), steps // 4)),
                      batches_per_epoch=max(1, min(values.get("batches_per_epoch") or steps, steps // 4)))
    if args.pretrain_batch is not None:
        values["batch_size"] = args.pretrain_batch
    if args.quick:
        values.update(val_windows=4, unroll=2, history=args.history, min_history=1, num_workers=0)
    config = TrainConfig.from_dict(values)
    settings = {"config": config.to_dict()}
    saved = _done(out, settings)
    if saved is not None:
        logger.info("pretraining: finished before in %s (%d steps)", out, saved["steps"])
        return out
    logger.info("pretraining: %s, %d steps x batch %d on %d stores (held out: %s) -> %s",
                {k: v for k, v in model_to_dict(config.model).items() if k in ("dim", "depth", "heads")},
                config.steps, config.batch_size, len(config.datasets), ", ".join(sorted(held)), out)
    resumable = latest_training_state(out / STATE_DIR) is not None  # an interrupted pretraining
    result = train(config, resume=resumable, progress=args.progress)
    _save(out, settings, {"steps": result.steps, "final_loss": result.final_loss, "seconds": result.seconds})
    logger.info("pretraining: %d steps, final loss %.4g, %.1f min", result.steps, result.final_loss,
                result.seconds / 60)
    return out


def held_out_data(args: argparse.Namespace, index: int, name: str) -> Path:
    """The held-out family's trajectories as a canonical store (simulated once)."""
    family = FAMILIES[name]
    sim = SIMULATORS[family.simulator]
    sizes = SCALES[args.scale]["resolution"]
    resolution = sim.default_resolution if sizes is None else min(sim.default_resolution, sizes[sim.n_spatial_dims])
    seed = DATA_SEED + index
    boundary = family.boundary or sim.boundaries[0]
    path = args.work_dir / "data" / f"{name}-{boundary}-r{resolution}-n{args.n_traj}-t{args.frames}-s{seed}.zarr"
    if path.exists():  # convert writes atomically: a path there is a complete store
        return path
    start = time.perf_counter()
    extra = {} if family.boundary is None else {"boundary": family.boundary}
    dataset = pde_data.generate(family.simulator, n_traj=args.n_traj, steps=args.frames, resolution=resolution,
                                seed=seed, **extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    pde_data.convert(dataset, path, progress=False)
    logger.info("%s: %d trajectories x %d frames at %s, boundary %s, fields %s, seed %d, %.1f s -> %s", name,
                args.n_traj, args.frames, dataset.spec.grid_shape, boundary, dataset.spec.field_names, seed,
                time.perf_counter() - start, path)
    return path


def data_check(store: Path) -> dict[str, Any]:
    """What a result's held-out data are, without where they lie: the store's name (family,
    boundary, grid, size, seed) and the mean and std of each field of its first trajectory to 4
    digits (a simulator that changed since gives other figures, and its results are not reused)."""
    first = pde_data.open(store).read(0)
    return {"name": store.name,
            "stats": {name: [f"{float(arr.mean()):.4g}", f"{float(arr.std()):.4g}"] for name, arr in first.items()}}


def _scores(model: Any, dataset: pde_data.PDEDataset, args: argparse.Namespace) -> dict[str, Any]:
    from rollouts import compare

    return compare({"model": model}, dataset, history=args.history, horizon=args.horizon, split="test",
                   split_seed=0).rows


def base(pretrained: Path) -> dict[str, str]:
    """The pretrained checkpoint and a fingerprint of its weights: the results of a base since
    changed (a longer pretraining, another checkpoint at the path) are not reused."""
    from morph.checkpoint import load_pretrained
    from morph.checkpoint.adapter import base_fingerprint

    return {"path": str(Path(pretrained).resolve()), "weights": base_fingerprint(load_pretrained(pretrained))}


def zero_shot(args: argparse.Namespace, pretrained: dict[str, str], store: Path) -> dict[str, Any]:
    """The pretrained model (grown to the data's fields when needed) and persistence on the test split."""
    from morph.checkpoint import load_pretrained
    from morph.growth import grow_to

    out = args.work_dir / "runs" / store.stem / "zero-shot"
    settings = {"pretrained": pretrained["weights"], "data": data_check(store), "history": args.history,
                "horizon": args.horizon}
    saved = _done(out, settings, args.reused)
    if saved is not None:
        return saved
    dataset = pde_data.open(store)
    model = grow_to(load_pretrained(pretrained["path"]), [dataset.spec])
    rows = _scores(model, dataset, args)
    out.mkdir(parents=True, exist_ok=True)
    return _save(out, settings, {"zero-shot": rows["model"], "persistence": rows["persistence"],
                                 "grown": str(getattr(model, "growth", None) or "")})


def train_one(args: argparse.Namespace, pretrained: dict[str, str], store: Path, label: str, shots: int, seed: int
              ) -> dict[str, Any]:
    """One training of `label` on `shots` training trajectories of `store`, scored on its test split."""
    from morph.checkpoint import load_pretrained

    how = dict(MODELS[label])
    if args.quick and "arch" in how:
        how.update(QUICK_BASELINES[how["arch"]])
    out = args.work_dir / "runs" / store.stem / f"n{shots}" / label.split(" (")[0].replace(" ", "_") / f"s{seed}"
    common = dict(steps=args.steps, batch_size=args.batch_size, seed=seed, warmup_steps=min(50, args.steps // 10),
                  checkpoint_every=args.steps, keep_checkpoints=1, val_windows=8, cache_dir=str(args.work_dir / "cache"))
    # what the result depends on, nothing of where it lies (so that --reuse finds it from another
    # checkout): the base's weights (a baseline from scratch owes nothing to them: its result is
    # reused across bases), the held-out data by name and content (`data_check`)
    settings = {"pretrained": None if "arch" in how else pretrained["weights"], "data": data_check(store),
                "how": how, "shots": shots, "train": {k: v for k, v in common.items() if k != "cache_dir"},
                "history": args.history, "horizon": args.horizon}
    if "level" in how and not how.get("from_scratch"):  # a fine-tune: its rate is the level's default,
        from adapters.finetune import DEFAULT_LR     # which may change between versions

        settings["lr"] = DEFAULT_LR[how["level"]]
    if "arch" not in how:  # MORPH: --mixed-precision (the baselines train in float32 under "auto")
        from morph.precision import resolve_precision

        common["mixed_precision"] = args.mixed_precision
        precision = resolve_precision(args.mixed_precision)
        if precision != "no":  # a setting only when not float32, as records from before it ran
            settings["precision"] = precision
    saved = _done(out, settings, args.reused)
    if saved is not None:
        return saved
    if out.exists():
        shutil.rmtree(out)  # an interrupted training, or one with other settings
    start = time.perf_counter()
    if "arch" in how:
        from morph.train import TrainConfig, train

        config = TrainConfig(datasets=[dict(source=str(store), max_train_traj=shots)], model=how,
                             history=args.history, lr=BASELINE_LR, output_dir=str(out), **common)
        trained, trainable = train(config, progress=args.progress), None
    else:
        from adapters import FinetuneConfig, finetune

        config = FinetuneConfig(checkpoint=pretrained["path"], data=str(store), output_dir=str(out), n_traj=shots,
                                history=args.history, horizon=args.horizon, train=common, **how)
        tuned = finetune(config, progress=args.progress)
        trained, trainable = tuned.train, tuned.trainable_parameters
    model = load_pretrained(out)
    if trainable is None:  # a baseline trains every parameter
        trainable = sum(p.numel() for p in model.parameters())
    rows = _scores(model, pde_data.open(store), args)
    lr = json.loads((out / "train_config.json").read_text())["lr"]
    return _save(out, settings, {"test": rows["model"], "trainable_parameters": trainable, "lr": lr,
                                 "steps": trained.steps, "final_loss": trained.final_loss,
                                 "seconds": time.perf_counter() - start})


# --- the report ------------------------------------------------------------------------------


def error_growth(row: dict[str, Any]) -> float:
    """A scored rollout's error growth: its last step's nRMSE over its first step's (inf where it
    diverged, NaN for a zero first step)."""
    first, last = row["per_step"][0], row["per_step"][-1]
    if first is None or last is None:  # non-finite, as JSON keeps it
        return math.inf
    return last / first if first else math.nan


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, std, min and max over seeds of the 1-step and rollout-mean nRMSE and of the error
    growth (last step over step 1)."""
    return {"step_1": stats([r["test"]["step_1"] for r in runs]),
            "horizon": stats([r["test"]["horizon"] for r in runs]),
            "growth": stats([error_growth(r["test"]) for r in runs]),
            "diverged": sum(r["test"]["diverged"] for r in runs), "windows": sum(r["test"]["windows"] for r in runs),
            "seconds": stats([r["seconds"] for r in runs]), "seeds": len(runs)}


def _cell(stat: dict[str, Any], digits: int = 4) -> str:
    if not math.isfinite(stat["mean"]):
        return "inf"
    return f"{stat['mean']:.{digits}f}" + (f" ± {stat['std']:.{digits}f}" if stat["std"] else "")


def table(results: dict[str, Any], horizon: int) -> str:
    """Markdown: per family, zero-shot and persistence, then every (shots, model): nRMSE mean ± std,
    the error growth (step `horizon` over step 1) and the training's wall-clock seconds (mean over
    seeds, as measured where each ran: results read back with --reuse keep their machine's)."""
    lines = [f"| family | n train traj | model | nRMSE 1 step | mean over {horizon} steps "
             f"| growth step {horizon} / step 1 | diverged | train s |", "|---|---|---|---|---|---|---|---|"]
    for name, family in results.items():
        for label in ("zero-shot", "persistence"):
            row = family["zero_shot"][label]
            lines.append(f"| {name} | - | {label} | {row['step_1']:.4f} | {row['horizon']:.4f} "
                         f"| {error_growth(row):.3g} | {row.get('diverged', 0)}/{row['windows']} | |")
        for shots, models in family["shots"].items():
            for label, summary in models.items():
                seconds = summary.get("seconds", {}).get("mean")
                lines.append(f"| {name} | {shots} | {label} | {_cell(summary['step_1'])} "
                             f"| {_cell(summary['horizon'])} | {_cell(summary['growth'], 3)} "
                             f"| {summary['diverged']}/{summary['windows']} "
                             f"| {'' if seconds is None else f'{seconds:.0f}'} |")
    return "\n".join(lines)


def data_efficiency(results: dict[str, Any]) -> dict[str, Any]:
    """Per family and from-scratch model: the fewest training trajectories (of those measured) with
    which it matches the better fine-tuned model at the smallest shot count (rollout mean nRMSE)."""
    out: dict[str, Any] = {}
    for name, family in results.items():
        shots = sorted(family["shots"], key=int)
        few = family["shots"][shots[0]]
        best_label = min(("LoRA (L1)", "full (L4)"), key=lambda k: few[k]["horizon"]["mean"])
        target = few[best_label]["horizon"]["mean"]
        per: dict[str, Any] = {"fine-tuned": best_label, "shots": int(shots[0]), "target": target}
        for label in SCRATCH:
            reached = next((int(n) for n in shots if family["shots"][n][label]["horizon"]["mean"] <= target), None)
            per[label] = {"reached_at": reached,
                          "at_most_shots": family["shots"][shots[-1]][label]["horizon"]["mean"]}
        out[name] = per
    return out


def efficiency_text(efficiency: dict[str, Any]) -> str:
    lines = []
    for name, per in efficiency.items():
        parts = []
        for label in SCRATCH:
            got = per[label]
            parts.append(f"{label} {got['reached_at']} traj" if got["reached_at"] is not None
                         else f"{label} not reached ({got['at_most_shots']:.4f} at the most measured)")
        lines.append(f"- {name}: to match {per['fine-tuned']} on {per['shots']} traj ({per['target']:.4f}): "
                     + "; ".join(parts))
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's targets on the rollout mean nRMSE, each with its figures and met / missed."""
    names = list(results)
    need = math.ceil(0.75 * len(names))
    checks: list[tuple[str, Callable[[str], tuple[bool, str]]]] = [
        ("zero-shot below persistence", lambda n: (
            results[n]["zero_shot"]["zero-shot"]["horizon"] < results[n]["zero_shot"]["persistence"]["horizon"],
            f"{results[n]['zero_shot']['zero-shot']['horizon']:.4f} vs "
            f"{results[n]['zero_shot']['persistence']['horizon']:.4f}"))]
    if all(results[n]["shots"] for n in names):  # the fine-tuning targets (not with --zero-shot-only)
        few = {name: results[name]["shots"][min(results[name]["shots"], key=int)] for name in names}
        n_few = min(int(min(results[n]["shots"], key=int)) for n in names)
        checks += [
            (f"LoRA on {n_few} traj >= 1.25x lower than MORPH scratch", lambda n: (
                few[n]["MORPH scratch"]["horizon"]["mean"] >= 1.25 * few[n]["LoRA (L1)"]["horizon"]["mean"],
                f"{few[n]['MORPH scratch']['horizon']['mean'] / few[n]['LoRA (L1)']['horizon']['mean']:.2f}x")),
            (f"full fine-tuning on {n_few} traj below FNO and U-Net scratch", lambda n: (
                few[n]["full (L4)"]["horizon"]["mean"] < min(few[n]["FNO scratch"]["horizon"]["mean"],
                                                             few[n]["U-Net scratch"]["horizon"]["mean"]),
                f"{few[n]['full (L4)']['horizon']['mean']:.4f} vs FNO {few[n]['FNO scratch']['horizon']['mean']:.4f}, "
                f"U-Net {few[n]['U-Net scratch']['horizon']['mean']:.4f}")),
        ]
    out = []
    for text, check in checks:
        per = {n: dict(zip(("pass", "figures"), check(n))) for n in names}
        passed = sum(p["pass"] for p in per.values())
        out.append({"target": text, "passed": passed, "of": len(names), "needed": need, "met": passed >= need,
                    "families": per})
    return out


def targets_text(checks: list[dict[str, Any]]) -> str:
    lines = []
    for check in checks:
        figures = "; ".join(f"{n} {'yes' if p['pass'] else 'no'} ({p['figures']})" for n, p in check["families"].items())
        lines.append(f"- {check['target']}: {'MET' if check['met'] else 'MISSED'}, {check['passed']} of "
                     f"{check['of']} (needs {check['needed']}): {figures}")
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------


def _model_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--model {text!r}: give KEY=VALUE, e.g. --model dim=128")
    return key, yaml.safe_load(value)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/transfer"), help="everything goes here")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: WORK_DIR/corpus)")
    parser.add_argument("--scale", default="small", choices=list(SCALES), help="corpus scale (and held-out grids)")
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="pretraining config (TrainConfig YAML)")
    parser.add_argument("--pretrained", type=Path, default=None, help="a pretrained checkpoint: skip pretraining")
    parser.add_argument("--pretrain-steps", type=int, default=None, help="override the recipe's steps")
    parser.add_argument("--pretrain-batch", type=int, default=None, help="override the recipe's batch_size")
    parser.add_argument("--model", type=_model_override, action="append", default=[], metavar="KEY=VALUE",
                        help="override a model setting of the recipe (repeatable), e.g. --model dim=128")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--n-traj", type=int, default=48, help="trajectories per held-out family (0.8/0.1/0.1)")
    parser.add_argument("--frames", type=int, default=24, help="frames per held-out trajectory")
    parser.add_argument("--shots", type=int, nargs="+", default=[8, 32], help="training trajectories")
    parser.add_argument("--scratch-shots", type=int, nargs="*", default=[],
                        help="more training trajectories for the from-scratch models only (data efficiency: "
                             "how many they need to match fine-tuning); each above the largest --shots")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 of every model")
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps of every training (same for all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--history", type=int, default=4, help="frames every model reads")
    parser.add_argument("--horizon", type=int, default=10, help="rollout steps of the test evaluation")
    parser.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16"],
                        help="precision of the MORPH trainings (the trainer's mixed_precision; \"no\" = float32, "
                             "as every record before 2026-12-08 was made); FNO and U-Net train in float32")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--reuse", type=Path, nargs="+", default=[], metavar="JSON",
                        help="earlier --json records: take every training and evaluation with the same settings "
                             "(base weights, data, model, steps, seed) from them instead of running it again")
    parser.add_argument("--zero-shot-only", action="store_true",
                        help="only the pretrained model against persistence on each family (no training; minutes)")
    parser.add_argument("--progress", action="store_true", help="the trainer's progress bars")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: a 2-simulator tiny corpus, tiny models, a few steps, 1 seed, shots 4")
    args = parser.parse_args(argv)
    args.model = dict(args.model)
    if args.quick:
        args.scale, args.seeds, args.shots, args.steps, args.batch_size = "tiny", 1, [4], 3, 4
        args.n_traj, args.frames, args.history, args.horizon = 12, 8, 2, 3
        args.pretrain_steps, args.pretrain_batch = args.pretrain_steps or 4, args.pretrain_batch or 4
        args.model = {**QUICK_MODEL, "max_ar": 2, **args.model}
    args.corpus = args.corpus or args.work_dir / "corpus"
    for name in ("n_traj", "frames", "seeds", "steps", "batch_size", "history", "horizon"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    train_split = len(pde_data.split_trajectories(args.n_traj)["train"])
    if min(args.shots) < 1 or max(args.shots + args.scratch_shots) > train_split:
        given = f"--shots {args.shots}" + (f" --scratch-shots {args.scratch_shots}" if args.scratch_shots else "")
        parser.error(f"{given}: each must be in 1..{train_split} (the training split of --n-traj {args.n_traj}); "
                     f"raise --n-traj")
    if args.scratch_shots and min(args.scratch_shots) <= max(args.shots):
        parser.error(f"--scratch-shots {args.scratch_shots}: each must be above the largest --shots "
                     f"({max(args.shots)})")
    if args.frames < args.history + args.horizon:
        parser.error(f"--frames {args.frames} leaves no {args.horizon}-step rollout after --history {args.history}")
    missing = [str(path) for path in args.reuse if not path.is_file()]
    if missing:
        parser.error(f"--reuse {' '.join(missing)}: no such file; give the JSON an earlier run wrote with --json")
    try:
        args.reused = load_reused(args.reuse)
    except ValueError as err:
        parser.error(str(err))
    if args.pretrained is not None and not args.pretrained.exists():
        parser.error(f"--pretrained {args.pretrained} does not exist; give a checkpoint or run directory, "
                     f"or leave it out to pretrain")
    return args


def recorded_path(value: Any) -> Any:
    """A path (or a list of them) as a record holds it: relative to the repository when it lies
    there, so that a committed record names no directory of the machine that wrote it; anything
    else as it is."""
    if isinstance(value, list):
        return [recorded_path(item) for item in value]
    if not isinstance(value, Path):
        return value
    resolved = value.resolve()
    return resolved.relative_to(REPOSITORY).as_posix() if resolved.is_relative_to(REPOSITORY) else str(value)


def _record(args: argparse.Namespace, pretrained: dict[str, str], results: dict[str, Any], minutes: float,
            **report: Any) -> dict[str, Any]:
    import torch

    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "minutes": minutes,
            "pretrained": {**pretrained, "path": recorded_path(Path(pretrained["path"]))}, "horizon": args.horizon,
            "args": _plain({k: recorded_path(v) for k, v in vars(args).items() if k != "reused"}),
            "families": {n: {"why": f.why, "relatives": list(f.relatives)} for n, f in FAMILIES.items()
                         if n in args.families},
            "results": results, **report}


def _write(path: Optional[Path], record: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2, default=float) + "\n")


def _log_reuse(args: argparse.Namespace, pretrained: dict[str, str]) -> None:
    if not args.reuse:
        return
    bases = [run["settings"].get("pretrained") for run in args.reused.values()]
    same = sum(b == pretrained["weights"] for b in bases)
    logger.info("--reuse: %d finished evaluations and trainings in %s, %d of them of this base (%s), %d of "
                "baselines from scratch", len(bases), ", ".join(map(str, args.reuse)), same, pretrained["weights"],
                bases.count(None))
    if same == 0 and len(bases) > bases.count(None):
        logger.warning("--reuse: none of its fine-tunes is of this base (weights %s): give --pretrained the "
                       "checkpoint those runs used (%s)", pretrained["weights"],
                       ", ".join(sorted({str(b) for b in bases if b is not None})))


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("accelerate", "morph", "adapters", "rollouts", "peft", "pde_data"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    started = time.perf_counter()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    pretrained = base(args.pretrained or pretrain(args, corpus(args)))
    _log_reuse(args, pretrained)
    results: dict[str, Any] = {}
    plan = [] if args.zero_shot_only else (
        [(shots, list(MODELS)) for shots in args.shots] + [(shots, SCRATCH) for shots in args.scratch_shots])
    total = len(args.families) * args.seeds * sum(len(labels) for _, labels in plan)
    done = 0
    for name in args.families:
        store = held_out_data(args, list(FAMILIES).index(name), name)
        results[name] = family = {"simulator": FAMILIES[name].simulator, "why": FAMILIES[name].why,
                                  "store": str(store), "zero_shot": zero_shot(args, pretrained, store),
                                  "shots": {}, "runs": {}}
        logger.info("%s: zero-shot %.4f, persistence %.4f (%d-step mean nRMSE)", name,
                    family["zero_shot"]["zero-shot"]["horizon"], family["zero_shot"]["persistence"]["horizon"],
                    args.horizon)
        for shots, labels in plan:
            for label in labels:
                runs = [train_one(args, pretrained, store, label, shots, seed) for seed in range(args.seeds)]
                done += args.seeds
                family["runs"].setdefault(str(shots), {})[label] = runs
                family["shots"].setdefault(str(shots), {})[label] = summary = summarise(runs)
                logger.info("[%d/%d] %s n=%d %s: %d-step mean nRMSE %s (%.1f min elapsed)", done, total, name,
                            shots, label, args.horizon, _cell(summary["horizon"]),
                            (time.perf_counter() - started) / 60)
                # written part way too, so that an interrupted session leaves what it finished for --reuse
                _write(args.json, _record(args, pretrained, results, (time.perf_counter() - started) / 60,
                                          complete=False))
    minutes = (time.perf_counter() - started) / 60
    text, checks = table(results, args.horizon), targets(results)
    efficiency = {} if args.zero_shot_only else data_efficiency(results)
    print(f"\n{text}")
    if efficiency:
        print(f"\nData efficiency (trajectories from scratch to match fine-tuning):\n{efficiency_text(efficiency)}")
    print(f"\nTargets (issue 17, {args.horizon}-step mean nRMSE):\n{targets_text(checks)}\n\n"
          f"{minutes:.1f} min (this invocation)")
    record = _record(args, pretrained, results, minutes, complete=True, data_efficiency=efficiency,
                     targets=checks, table=text)
    _write(args.json, record)
    if args.json:
        logger.info("wrote %s", args.json)
    return record


if __name__ == "__main__":
    main()
