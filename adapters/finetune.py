"""`finetune`: adapt a pretrained MORPH to a new PDE (what `morph finetune` calls).

The same trainer and Accelerate path as pretraining (`morph.train.train`), on
one dataset that pde_data opens, with a fine-tuning level (`adapters.levels`).
The output directory is a checkpoint: `MORPH.from_pretrained(DIR)` loads the
model in `DIR/final/`, full weights (levels 3, 4, from scratch) or an adapter
with a reference to its base (levels 1, 2). Next to the trainer's files it holds

    finetune.json      the FinetuneConfig and what was resolved from it (base, history, horizon, level)
    splits.json        the trajectories of each split (train: those used; val and test: disjoint)
    test_metrics.json  `rollouts.evaluate` on the test split: fine-tuned, zero-shot base, persistence

The closing table holds the test nRMSE (fields averaged) at one step and over
the rollout horizon, from `rollouts.evaluate`, the same numbers `morph evaluate`
prints for each model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from morph.checkpoint import checkpoint_reference, load_pretrained
from morph.config import MorphConfig
from morph.model import MORPH
from morph.train import ConfigError, DataSource, TrainConfig, TrainResult, train
from morph.train.config import check_config_keys, read_config_file
from morph.train.data import resolve_source
from pde_data import PDEDataset, split_trajectories
from rollouts import Evaluation, evaluate

from adapters.levels import LEVELS, apply_level
from adapters.lora import check_targets

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "DEFAULT_FINETUNE_STEPS"]

logger = logging.getLogger(__name__)

#: Length of a fine-tune that names neither steps nor epochs.
DEFAULT_FINETUNE_STEPS = 500
#: Peak learning rate per level when `train` names none, and from scratch. Measured with
#: benchmarks/transfer.py (starter, 200-500 steps, batch 8; docs/benchmarks.md): LoRA learns best
#: at 5e-3-1e-2 (3e-2 fails; 1e-3 gives 15-40% larger test errors), levels 3 and 4 at 1e-3 (5e-4
#: or 3e-4: 5-25% larger), level 2 at 3e-3 (1e-3: 15-20% larger). From scratch, 3e-3 is as good
#: as any of 3e-4-1e-2 on Allen-Cahn and 7-10% better than 1e-3 on the wave equation: the
#: comparison gives scratch its best rate too.
DEFAULT_LR: dict[int, float] = {1: 5e-3, 2: 3e-3, 3: 1e-3, 4: 1e-3}
SCRATCH_LR = 3e-3
#: Rollout steps of the test evaluation when `horizon` is not given (fewer if trajectories are short).
DEFAULT_HORIZON = 10
FINETUNE_FILE = "finetune.json"
SPLITS_FILE = "splits.json"
TEST_FILE = "test_metrics.json"
#: TrainConfig keys a fine-tune sets itself.
_OWN_KEYS = ("datasets", "model", "history", "output_dir", "init_checkpoint")
#: FinetuneConfig keys that must match when resuming.
_RESUME_KEYS = ("checkpoint", "data", "level", "rank", "alpha", "lora_dropout", "targets", "n_traj", "history",
                "from_scratch", "format", "options")


@dataclass
class FinetuneConfig:
    """A fine-tuning run.

    checkpoint: the base: "starter", a checkpoint directory, or a run directory.
    data: a path pde_data opens (any format; `format`, `options` go to the reader)
        or a built-in simulator name.
    level: 1-4, see `adapters.levels`; rank, alpha (None: 2 rank), lora_dropout and
        targets configure LoRA (levels 1, 2).
    n_traj: train on that many trajectories of the training split (None: all).
    history: frames the model reads (None: the base's training history, else its max_ar).
    horizon: rollout steps of the test evaluation (None: 10, or fewer for short trajectories).
    from_scratch: train the base's architecture from random weights, every
        parameter (level 4), with the same budget; for comparison.
    train: TrainConfig keys (steps, epochs, lr, batch_size, seed, warmup_steps, ...);
        by default 500 steps at a learning rate set by the level (`DEFAULT_LR`).
    """

    checkpoint: str
    data: str
    output_dir: str = "runs/finetune"
    level: int = 2
    rank: int = 8
    alpha: Optional[float] = None
    lora_dropout: float = 0.0
    targets: Optional[list[str]] = None
    n_traj: Optional[int] = None
    history: Optional[int] = None
    horizon: Optional[int] = None
    from_scratch: bool = False
    format: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("checkpoint", "data"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"finetune: {name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.level not in LEVELS:
            raise ConfigError(f"finetune: level must be one of 1-4 "
                              f"({'; '.join(f'{k}: {v}' for k, v in LEVELS.items())}), got {self.level!r}")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"finetune: rank must be a positive int, got {self.rank!r}")
        for name in ("n_traj", "history", "horizon"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"finetune: {name} must be a positive int or null, got {value!r}")
        if self.alpha is not None and not self.alpha > 0:
            raise ConfigError(f"finetune: alpha must be > 0 or null, got {self.alpha!r}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"finetune: lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if not isinstance(self.train, dict):
            raise ConfigError(f"finetune: train must be a mapping of TrainConfig keys, got {self.train!r}")
        own = sorted(set(self.train) & set(_OWN_KEYS))
        if own:
            raise ConfigError(f"finetune: train keys {own} are set by the fine-tune itself; use checkpoint, "
                              f"data, history and output_dir instead")
        allowed = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(self.train) - allowed)
        if unknown:
            raise ConfigError(f"finetune: unknown train keys {unknown}; allowed: {sorted(allowed - set(_OWN_KEYS))}")

    @property
    def effective_level(self) -> int:
        """The level trained: 4 (every parameter) from scratch, else `level`."""
        return 4 if self.from_scratch else self.level

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path: Union[str, Path], **overrides: Any) -> "FinetuneConfig":
        """A YAML (or JSON) file of FinetuneConfig keys, then `overrides` (None values ignored;
        a `train` override is merged into the file's `train`)."""
        return cls._with_overrides(read_config_file(path), overrides)

    @classmethod
    def from_run(cls, run_dir: Union[str, Path], **overrides: Any) -> Optional["FinetuneConfig"]:
        """The config the fine-tune in `run_dir` was started with (its `finetune.json`), then
        `overrides` as in `from_file`; None if `run_dir` holds no fine-tune."""
        path = Path(run_dir) / FINETUNE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())["config"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ConfigError(f"{path} is not a fine-tune record ({err}); start a new fine-tune elsewhere") from err
        return cls._with_overrides(data, overrides)

    @classmethod
    def _with_overrides(cls, data: dict[str, Any], overrides: dict[str, Any]) -> "FinetuneConfig":
        data = dict(data)
        train = {**data.get("train", {}), **overrides.pop("train", {})}
        data.update({k: v for k, v in overrides.items() if v is not None})
        data["train"] = train
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FinetuneConfig":
        check_config_keys(data, cls, "finetune")
        missing = sorted(k for k in ("checkpoint", "data") if data.get(k) is None)
        if missing:
            raise ConfigError(f"finetune: give {' and '.join('--' + k for k in missing)} (or a config file with "
                              f"{' and '.join(missing)}; to continue a fine-tune: --resume --out DIR)")
        return cls(**data)


@dataclass
class FinetuneResult:
    """What a fine-tune produced: its checkpoint and the test figures (see `table`)."""

    output_dir: Path
    checkpoint: Path
    level: int
    trainable_parameters: int
    horizon: int
    train: TrainResult
    test: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown: per model, test nRMSE at 1 step, mean over the horizon, at its last step, and
        the windows whose rollout diverged (they score inf)."""
        k = self.horizon
        lines = [f"| model | test nRMSE, 1 step | mean over {k} steps | at step {k} | diverged |",
                 "|---|---|---|---|---|"]
        for name, m in self.test.items():
            lines.append(f"| {name} | {m['step_1']:.4g} | {m['horizon']:.4g} | {m['last']:.4g} "
                         f"| {m['diverged']}/{m['windows']} |")
        return "\n".join(lines)


def _row(evaluation: Evaluation, source: str) -> dict[str, Any]:
    """The table row of one source ("model" or "persistence") of an evaluation: nRMSE, fields averaged."""
    curve = evaluation.summary(source)["mean"]["nrmse"]
    diverged = len(evaluation.diverged) if source == "model" else 0
    return {"step_1": curve["step_1"], "horizon": curve["horizon"], "last": curve["per_step"][-1],
            "per_step": curve["per_step"], "diverged": diverged, "windows": evaluation.n_windows}


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _default_history(base: MORPH) -> int:
    """The history the base was trained with (its metadata), else its max_ar."""
    trained = base.metadata.get("train_config", {}).get("history") if isinstance(base.metadata, dict) else None
    if isinstance(trained, int) and 1 <= trained <= base.config.max_ar:
        return trained
    return base.config.max_ar


def _train_config(config: FinetuneConfig, base_config: MorphConfig, base_ref: str, history: int) -> TrainConfig:
    level = config.effective_level
    values: dict[str, Any] = dict(
        datasets=[DataSource(source=config.data, format=config.format, options=dict(config.options),
                             max_train_traj=config.n_traj)],
        # Every MorphConfig field is given, so the preset only satisfies TrainConfig: the model is the base's.
        model={"preset": "Ti", **base_config.to_dict()},
        init_checkpoint=None if config.from_scratch else base_ref,
        history=history, output_dir=config.output_dir,
        lr=SCRATCH_LR if config.from_scratch else DEFAULT_LR[level],
    )
    values.update(config.train)
    if values.get("steps") is None and values.get("epochs") is None:
        values["steps"] = DEFAULT_FINETUNE_STEPS
    if "warmup_steps" not in config.train and values.get("steps"):
        values["warmup_steps"] = min(50, values["steps"] // 10)
    return TrainConfig.from_dict(values)


def _check_dataset(dataset: PDEDataset, model: MorphConfig, checkpoint: str, history: int) -> None:
    """ConfigError naming the limit when the dataset does not fit the checkpoint's model."""
    spec = dataset.spec
    where = f"dataset {spec.source or spec.name}"
    fields, components = len(spec.fields), max(spec.components)
    if fields > model.max_fields:
        raise ConfigError(f"{where} has {fields} fields ({', '.join(spec.field_names)}) but the checkpoint "
                          f"{checkpoint!r} takes at most max_fields = {model.max_fields}; keep at most "
                          f"{model.max_fields} fields (a reader option such as --option 'fields=...', or "
                          f"convert a subset) or use a model with a larger max_fields")
    if components > model.max_components:
        widest = max(spec.fields, key=lambda f: f.components)
        raise ConfigError(f"{where}: field {widest.name!r} has {components} components but the checkpoint "
                          f"{checkpoint!r} takes at most max_components = {model.max_components}; split it "
                          f"into fields of at most {model.max_components} components")
    patch = [1 if size == 1 else model.patch_size for size in spec.grid_shape]
    patches = math.prod(-(-size // p) for size, p in zip(spec.grid_shape, patch))
    if patches > model.max_patches:
        raise ConfigError(f"{where}: the grid {tuple(spec.grid_shape)} makes {patches} patches, more than "
                          f"the checkpoint's max_patches = {model.max_patches}; coarsen the data")
    if spec.n_steps < history + 1:
        raise ConfigError(f"{where}: trajectories of {spec.n_steps} frames are too short for history {history} "
                          f"plus a target; use a shorter --history")
    if len(dataset) < 3:
        raise ConfigError(f"{where} has {len(dataset)} trajectories; a fine-tune needs at least 3 "
                          f"(disjoint train, validation and test trajectories)")


def _splits(dataset: PDEDataset, config: FinetuneConfig, seed: int) -> dict[str, Any]:
    """The trajectories of each split, as WindowDataset chooses them; train cut to n_traj."""
    parts = split_trajectories(len(dataset), seed=seed)
    train_all = parts["train"].tolist()
    if config.n_traj is not None and config.n_traj > len(train_all):
        raise ConfigError(f"--n-traj {config.n_traj}: the training split of {config.data} has only "
                          f"{len(train_all)} of its {len(dataset)} trajectories (the rest are validation "
                          f"and test); ask for at most {len(train_all)}")
    used = train_all[:config.n_traj] if config.n_traj is not None else train_all
    return {"n_trajectories": len(dataset), "fractions": [0.8, 0.1, 0.1], "seed": seed, "train": used,
            "train_unused": train_all[len(used):], "val": parts["val"].tolist(), "test": parts["test"].tolist()}


def _check_resume(out: Path, record: dict[str, Any]) -> None:
    previous_file = out / FINETUNE_FILE
    if not previous_file.is_file():
        return
    previous = json.loads(previous_file.read_text()).get("config", {})
    differ = [k for k in _RESUME_KEYS if previous.get(k) != record["config"].get(k)]
    if differ:
        shown = ", ".join(f"{k}: {previous.get(k)!r} -> {record['config'].get(k)!r}" for k in differ)
        raise ConfigError(f"--resume: {out} holds a fine-tune with other settings ({shown}); resume with the "
                          f"same settings or choose another --out")


def finetune(config: FinetuneConfig, resume: bool = False, progress: bool = True) -> FinetuneResult:
    """Fine-tune `config.checkpoint` on `config.data`; returns the checkpoint and the test table.

    With `resume`, continues from the latest complete checkpoint in `config.output_dir`.
    """
    out = Path(config.output_dir)
    base_ref = checkpoint_reference(config.checkpoint)
    if base_ref != "starter" and out.resolve() in (Path(base_ref), *Path(base_ref).parents):
        raise ConfigError(f"--out {out} holds the base checkpoint {base_ref}; the fine-tune would overwrite "
                          f"it: choose another --out")
    base = load_pretrained(config.checkpoint)  # an adapter directory comes back merged
    history = config.history or _default_history(base)
    if history > base.config.max_ar:
        raise ConfigError(f"history {history} exceeds max_ar = {base.config.max_ar} of the checkpoint "
                          f"{config.checkpoint!r}; use --history {base.config.max_ar} or less")
    train_config = _train_config(config, base.config, base_ref, history)
    dataset = resolve_source(train_config.datasets[0], train_config.cache)
    _check_dataset(dataset, base.config, config.checkpoint, history)
    available = dataset.spec.n_steps - history
    horizon = config.horizon or min(DEFAULT_HORIZON, available)
    if horizon > available:
        raise ConfigError(f"--horizon {horizon}: trajectories of {dataset.spec.n_steps} frames leave "
                          f"{available} frames after a history of {history}; use --horizon {available} or less")
    splits = _splits(dataset, config, train_config.split_seed)
    level = config.effective_level
    if level in (1, 2):
        try:
            check_targets(base, config.targets)
        except ValueError as err:
            raise ConfigError(f"finetune targets: {err}") from err
    if config.from_scratch and config.level != 4:
        logger.info("from scratch: every parameter trains (level 4), from random weights in the base's "
                    "architecture")
    record = {"config": config.to_dict(), "base": base_ref, "level": level, "history": history,
              "horizon": horizon, "base_config": base.config.to_dict()}
    if resume:
        _check_resume(out, record)
    if _is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        (out / FINETUNE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        (out / SPLITS_FILE).write_text(json.dumps(splits, indent=2) + "\n")

    trainable: dict[str, int] = {}

    def model_factory() -> MORPH:
        model = MORPH(base.config) if config.from_scratch else copy.deepcopy(base)
        model.source = None if config.from_scratch else base_ref
        trainable["n"] = apply_level(model, level, rank=config.rank, alpha=config.alpha,
                                     dropout=config.lora_dropout, targets=config.targets, base=base_ref)
        return model

    train_result = train(train_config, resume=resume, progress=progress, model_factory=model_factory,
                         task="finetune")
    result = FinetuneResult(output_dir=out, checkpoint=train_result.checkpoint, level=level,
                            trainable_parameters=trainable.get("n", 0), horizon=horizon, train=train_result)
    if not _is_main_process():
        return result
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = "from scratch" if config.from_scratch else f"fine-tuned (level {level})"
    evaluations = {}
    for label, model in ((name, load_pretrained(out)), (f"zero-shot ({config.checkpoint})", base)):
        evaluations[label] = evaluate(model.to(device), dataset, horizon=horizon, history=history, split="test",
                                      split_seed=train_config.split_seed, batch_size=train_config.batch_size)
    result.test = {label: _row(e, "model") for label, e in evaluations.items()}
    result.test["persistence"] = _row(evaluations[name], "persistence")
    (out / TEST_FILE).write_text(json.dumps({label: e.to_dict() for label, e in evaluations.items()},
                                            indent=2) + "\n")
    return result
