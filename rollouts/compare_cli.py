"""`morph compare`: several models (any architecture) scored on the same rollout windows of one dataset,
beside persistence, in one table (`rollouts.compare`, the table `morph finetune --compare-scratch` prints).

The windows are those of one split: by default the split of the first `--checkpoint` that is a run directory
with a `splits.json` (as `morph finetune` and `morph pretrain` write it), else the split seed of the first
model's run record; `--splits` names another run's, and `--split all` takes every trajectory of the file.
Every model reads the same history: `--history`, or the first model's that all of them take.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, List, Optional

import typer

from morph.cli.options import data_options, device as run_device
from rollouts.cli import (BATCH_SIZE_OPTION, BOUNDARY_OPTION, CACHE_OPTION, DEVICE_OPTION, FORMAT_OPTION,
                          MAX_GROWTH_OPTION, PRECISION_OPTION, QUIET_OPTION, READER_OPTION, STRIDE_OPTION)

__all__ = ["SPLITS_FILE", "compare_command"]

logger = logging.getLogger("morph")

#: The file of a run directory that records the trajectories of each split (`pde_data.windows.split_record`).
SPLITS_FILE = "splits.json"


def _labelled(checkpoints: List[str]) -> dict[str, str]:
    """{row label: checkpoint} of the --checkpoint values: LABEL=CHECKPOINT, or the checkpoint as typed."""
    from pde_data import DataError

    labelled: dict[str, str] = {}
    for item in checkpoints:
        label, sep, ref = item.partition("=")
        if not sep or not label or "/" in label:
            label, ref = item, item
        if label in labelled or label == "persistence":
            raise DataError(f"--checkpoint {item}: the row {label!r} is taken; name the rows apart with "
                            "--checkpoint LABEL=CHECKPOINT")
        labelled[label] = ref
    return labelled


def _splits_file(path: Path) -> Optional[Path]:
    """The splits.json of a run directory, of its `final/` checkpoint, or the file itself; None if there is none."""
    for candidate in (path, path / SPLITS_FILE, path.parent / SPLITS_FILE):
        if candidate.name == SPLITS_FILE and candidate.is_file():
            return candidate
    return None


def _recorded_split(path: Path, spec: Any, n: int, data: str) -> tuple[int, tuple[float, ...]]:
    """(seed, fractions) of the split recorded in the splits.json at `path` for the data of `spec` (`n`
    trajectories): a fine-tune's record, or the entry of a pretraining's `datasets` of that name or source."""
    from pde_data import DataError

    record = json.loads(path.read_text())
    entries = record.get("datasets", [record])
    if len(entries) > 1:
        entries = [e for e in entries if e.get("source") == data or e.get("name") == spec.name]
    if len(entries) != 1:
        names = ", ".join(str(e.get("name")) for e in record.get("datasets", []))
        raise DataError(f"--splits {path}: the run recorded splits of {names}, none (or several) of them "
                        f"{spec.name!r}; name the splits.json of a run that trained on --data {data}")
    entry = entries[0]
    if entry.get("n_trajectories") != n:
        raise DataError(f"--splits {path}: recorded for {entry.get('n_trajectories')} trajectories and --data {data} "
                        f"has {n}; name the run that trained on this data, or score every trajectory with --split all")
    return int(entry["seed"]), tuple(entry["fractions"])


def _common_history(models: dict[str, Any], spec: Any, where: str, history: Optional[int] = None) -> int:
    """`history` (--history), else the first of the models' own histories (each one's default: its training
    history) that every model takes; a `DataFitError` naming the --checkpoint that does not fit the data."""
    from pde_data import DataError
    from rollouts.evaluate import evaluation_setup

    preferred = {label: evaluation_setup(model, spec.n_steps)[0] for label, model in models.items()}
    for label, model in models.items():
        _check_fits(model, spec, history or preferred[label], label, where)
    if history is not None:
        return history
    for k in dict.fromkeys(preferred.values()):
        if all(_takes(model, spec, k, where) for model in models.values()):
            return k
    said = ", ".join(f"{label}: {k}" for label, k in preferred.items())
    raise DataError(f"{where}: the models read different histories ({said}) and none of them fits all; "
                    "compare models that take one history (--history K for all)")


def _check_fits(model: Any, spec: Any, history: int, label: str, where: str) -> None:
    from morph.config import DataFitError

    try:
        model.config.check_fits(spec, history=history, where=where)
    except DataFitError as err:
        raise DataFitError(f"--checkpoint {label}: {err}") from err


def _takes(model: Any, spec: Any, history: int, where: str) -> bool:
    from morph.config import DataFitError

    try:
        model.config.check_fits(spec, history=history, where=where)
    except DataFitError:
        return False
    return True


def _warn_seen(models: dict[str, Any], dataset: Any, scored: list[int], split: str) -> None:
    """A warning for each model that trained on trajectories of the scored split (by its run record)."""
    from pde_data import split_trajectories
    from morph.checkpoint import run_record
    from rollouts.cli import _trained_on

    for label, model in models.items():
        record = run_record(model)
        if record is None or not _trained_on(record, dataset.spec):
            continue
        seen = sorted(set(split_trajectories(len(dataset), record.split_fractions, record.split_seed)["train"].tolist())
                      & set(scored))
        if seen:
            logger.warning("%s trained on %d of the %d trajectories scored (%s split: %s): its row shows how it fits "
                           "data it saw", label, len(seen), len(scored), split,
                           ", ".join(map(str, seen[:5])) + (", ..." if len(seen) > 5 else ""))


def compare_command(
    checkpoint: List[str] = typer.Option(..., "--checkpoint", help="a model to score, repeatable: a checkpoint or "
                                         "run directory, 'starter' or a Hub id, of any architecture; "
                                         "LABEL=CHECKPOINT names its row"),
    data: str = typer.Option(..., "--data", help="dataset path or URL (any format `morph data convert` reads)"),
    splits: Optional[Path] = typer.Option(None, "--splits", help="the splits.json (or run directory) whose split "
                                          "to score (default: the first --checkpoint's run, else its run record)"),
    split: str = typer.Option("test", "--split", help="train, val, test or all (every trajectory of the file)"),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="rollout steps (default 10, or what the "
                                                                  "trajectories allow)"),
    history: Optional[int] = typer.Option(None, "--history", help="history frames k, for every model (default: "
                                          "the first model's training history that all of them take)"),
    stride: Optional[int] = STRIDE_OPTION,
    batch_size: int = BATCH_SIZE_OPTION,
    max_growth: float = MAX_GROWTH_OPTION,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the table and every model's "
                                            "metrics (per field and step) to this JSON file"),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="also write the table to this CSV file"),
    format: str = FORMAT_OPTION,
    option: Optional[List[str]] = READER_OPTION,
    boundary: Optional[List[str]] = BOUNDARY_OPTION,
    cache: Optional[Path] = CACHE_OPTION,
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Score several models on the same rollout windows of one dataset beside persistence: one table of
    nRMSE at 1 step and over the horizon, error growth and diverged rollouts; optionally JSON and CSV."""
    for given, flag in ((json_out, "--json"), (csv_out, "--csv")):
        if given is not None and not given.parent.exists():
            raise typer.BadParameter(f"{given}: the directory {given.parent} does not exist", param_hint=flag)
    from pde_data import DataError, split_trajectories
    from pde_data.files import write_json_atomic, write_text_atomic
    from morph.checkpoint import load_pretrained
    from morph.growth import grow_to
    from morph.train.config import default_cache_dir
    from morph.train.data import open_data
    from rollouts import compare
    from rollouts.evaluate import evaluation_setup

    labelled = _labelled(checkpoint)
    dataset = open_data(data, cache or default_cache_dir(), format=format, **data_options(option, boundary))
    spec, n = dataset.spec, len(dataset)
    models = {label: grow_to(load_pretrained(ref), [spec]).to(run_device(device)) for label, ref in labelled.items()}
    recorded = _splits_file(splits) if splits is not None else next(
        (found for ref in labelled.values() if (found := _splits_file(Path(ref))) is not None), None)
    if splits is not None and recorded is None:
        raise DataError(f"--splits {splits}: no {SPLITS_FILE} there; name a run directory of morph finetune or "
                        f"morph pretrain, or its {SPLITS_FILE}")
    if recorded is not None:
        seed, fractions = _recorded_split(recorded, spec, n, data)
        told = f"the split recorded in {recorded}"
    else:
        *_, seed, fractions = evaluation_setup(next(iter(models.values())), spec.n_steps)
        told = f"split seed {seed} of {next(iter(labelled))}'s run record"
    k = _common_history(models, spec, data, history)
    scored = list(range(n)) if split == "all" else split_trajectories(n, fractions, seed)[split].tolist() \
        if split in ("train", "val", "test") else []
    _warn_seen(models, dataset, scored, split)
    scores = compare(models, dataset, history=k, horizon=horizon, split=split, split_seed=seed, fractions=fractions,
                     stride=stride, batch_size=batch_size, max_growth=max_growth, precision=precision,
                     progress=not quiet)
    setup = next(iter(scores.evaluations.values())).setup
    typer.echo(f"{spec.name}, {split} split ({len(setup['trajectories'])} trajectories"
               + (f", {told}" if split != "all" else "") + f"; {scores.rows['persistence']['windows']} windows), "
               f"history {k}, {scores.horizon}-step rollouts:")
    typer.echo(scores.table())
    if json_out is not None:
        write_json_atomic(json_out, {"setup": {**setup, "data": data, "splits_file": str(recorded) if recorded else None,
                                               "checkpoints": labelled},
                                     "rows": scores.summary(), "models": scores.to_dict()})
        typer.echo(f"wrote {json_out}")
    if csv_out is not None:
        write_text_atomic(csv_out, scores.csv())
        typer.echo(f"wrote {csv_out}")
