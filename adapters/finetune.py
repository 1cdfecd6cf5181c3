"""`finetune`: adapt a pretrained MORPH to a new PDE (what `morph finetune` calls).

The same trainer and Accelerate path as pretraining (`morph.train.train`), on
one dataset that pde_data opens, with a fine-tuning level (`adapters.levels`).
The output directory is a checkpoint: `MORPH.from_pretrained(DIR)` loads the
model in `DIR/final/`, full weights (levels 3, 4, from scratch) or an adapter
with a reference to its base (levels 1, 2). Data with more fields, or wider fields, than
the base takes grows the base first (`morph.growth.grow_to`; the new rows and columns train
at every level). Next to the trainer's files it holds

    finetune.json      the FinetuneConfig and what was resolved from it (base, history, horizon, level)
    splits.json        the trajectories of each split (train: those used; val and test: disjoint)

Scoring the result on the test split beside the zero-shot base and persistence is
`rollouts.compare` (`morph finetune` does it and writes `test_metrics.json`); its
defaults (history, split) come from the checkpoint's run record, so it scores the
trajectories the fine-tune held out.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Union

from morph.checkpoint import load_pretrained, resolve_checkpoint, run_record
from morph.config import MorphConfig
from morph.growth import grow_to
from morph.model import MORPH
from morph.predict import DEFAULT_HORIZON
from morph.train import ConfigError, DataSource, TrainConfig, TrainResult, train
from morph.train.config import default_cache_dir, resume_conflicts
from morph.train.config_files import check_config_keys, read_config_file
from morph.train.data import resolve_source
from morph.train.loop import process_state
from pde_data import PDEDataset
from pde_data.files import write_json_atomic
from pde_data.windows import split_record

from adapters.levels import LEVELS, apply_level
from adapters.lora import check_targets

__all__ = ["FinetuneConfig", "FinetuneResult", "FinetuneTraining", "finetune", "DEFAULT_FINETUNE_STEPS"]

logger = logging.getLogger(__name__)

#: Length of a fine-tune that names neither steps nor epochs.
DEFAULT_FINETUNE_STEPS = 500
#: Peak learning rate per level when `train` names none, and from scratch. Measured with
#: the first benchmarks/transfer.py (starter, 200-500 steps, batch 8; docs/benchmarks/transfer.md): LoRA learns best
#: at 5e-3-1e-2 (3e-2 fails; 1e-3 gives 15-40% larger test errors), levels 3 and 4 at 1e-3 (5e-4
#: or 3e-4: 5-25% larger), level 2 at 3e-3 (1e-3: 15-20% larger). From scratch, 3e-3 is as good
#: as any of 3e-4-1e-2 on Allen-Cahn and 7-10% better than 1e-3 on the wave equation: the
#: comparison gives scratch its best rate too. Level 4 moved to 3e-3 on 2026-12-08: on PDE families
#: the base never saw (the leave-family-out base, 100 steps, 8 trajectories, the validation split of
#: the four held-out families) its 10-step rollout error was 8-18% lower than at 1e-3 on KdV, the 3D
#: wave and FitzHugh-Nagumo and level on walled shallow water; 1e-2 diverged on the 3D wave
#: (docs/benchmarks/transfer.md).
DEFAULT_LR: dict[int, float] = {1: 5e-3, 2: 3e-3, 3: 1e-3, 4: 3e-3}
SCRATCH_LR = 3e-3
FINETUNE_FILE = "finetune.json"
SPLITS_FILE = "splits.json"
#: TrainConfig keys a fine-tune sets itself.
_OWN_KEYS = ("datasets", "model", "history", "output_dir", "init_checkpoint")


def _optional_fields_of(source: type, leave_out: tuple[str, ...]) -> Any:
    """A class decorator: the class as a dataclass with every field of the dataclass `source` but
    `leave_out`, each Optional and None by default (one list of keys: TrainConfig's)."""
    def decorate(cls: type) -> type:
        cls.__annotations__ = {f.name: f"Optional[{f.type}]" for f in dataclasses.fields(source)
                               if f.name not in leave_out}
        for name in cls.__annotations__:
            setattr(cls, name, None)
        return dataclass(cls)
    return decorate


@_optional_fields_of(TrainConfig, leave_out=_OWN_KEYS)
class FinetuneTraining:
    """The training settings of a fine-tune (`FinetuneConfig.train`): every `TrainConfig` key but
    those the fine-tune sets itself (datasets, model, history, output_dir, init_checkpoint), each
    None by default, which is the fine-tune's default: `DEFAULT_FINETUNE_STEPS` steps, the level's
    learning rate (`DEFAULT_LR`), a warmup of a tenth of the steps up to 50, else TrainConfig's.
    Values are checked when the fine-tune builds its TrainConfig."""

    def given(self) -> dict[str, Any]:
        """The keys set (not None), as a config file names them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def parse(cls, values: Any) -> "FinetuneTraining":
        """A FinetuneTraining from one, or from a mapping of its keys (a config file's `train`)."""
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            raise ConfigError(f"finetune: train must be a mapping of TrainConfig keys, got {values!r}")
        own = sorted(set(values) & set(_OWN_KEYS))
        if own:
            raise ConfigError(f"finetune: train keys {own} are set by the fine-tune itself; use checkpoint, "
                              f"data, history and output_dir instead")
        check_config_keys(values, cls, "finetune: train")
        return cls(**values)


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
    horizon: rollout steps of the test evaluation that follows (`rollouts.compare`; None:
        `morph.predict.DEFAULT_HORIZON`, or fewer for short trajectories); checked against
        the data before training.
    from_scratch: train the base's architecture from random weights, every
        parameter (level 4), with the same budget; for comparison.
    train: the training settings (`FinetuneTraining`: TrainConfig's keys steps, epochs, lr, batch_size,
        seed, warmup_steps, ...; a mapping of them is read as one); by default 500 steps at a
        learning rate set by the level (`DEFAULT_LR`).
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
    train: FinetuneTraining = field(default_factory=FinetuneTraining)

    #: Keys a resumed fine-tune may change (`morph.train.config.resume_conflicts`); its `train` settings
    #: are held to TrainConfig's rule when its training resumes.
    RESUME_MAY_CHANGE: ClassVar[tuple[str, ...]] = ("output_dir", "horizon", "train")

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
        self.train = FinetuneTraining.parse(self.train)

    @property
    def effective_level(self) -> int:
        """The level trained: 4 (every parameter) from scratch, else `level`."""
        return 4 if self.from_scratch else self.level

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values (saved in the run's `finetune.json`; `train` as the keys given)."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "train": self.train.given()}

    @classmethod
    def nested_keys(cls, key: str, values: Mapping[str, Any]) -> Optional[list[str]]:
        """The keys of the mapping `key` (for `--set train.lr=...`): FinetuneTraining's for `train`,
        None (any) for the reader `options`, [] for a key that is not a mapping."""
        if key == "train":
            return [f.name for f in dataclasses.fields(FinetuneTraining)]
        return None if key == "options" else []

    @classmethod
    def file_values(cls, path: Union[str, Path]) -> dict[str, Any]:
        """The keys of a YAML (or JSON) config file, unknown ones refused naming the file; for
        laying command-line flags over before `from_dict`."""
        data = read_config_file(path)
        check_config_keys(data, cls, str(path))
        return data

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "FinetuneConfig":
        """A YAML (or JSON) file of FinetuneConfig keys."""
        return cls.from_dict(cls.file_values(path))

    @classmethod
    def from_run(cls, run_dir: Union[str, Path]) -> Optional["FinetuneConfig"]:
        """The config the fine-tune in `run_dir` was started with (its `finetune.json`), or None if
        `run_dir` holds no fine-tune."""
        path = Path(run_dir) / FINETUNE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())["config"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ConfigError(f"{path} is not a fine-tune record ({err}); start a new fine-tune elsewhere") from err
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FinetuneConfig":
        """A config from `to_dict`'s values; unknown keys, and a missing checkpoint or data, are a
        `ConfigError`."""
        check_config_keys(data, cls, "finetune")
        missing = sorted(k for k in ("checkpoint", "data") if data.get(k) is None)
        if missing:
            raise ConfigError(f"finetune: give {' and '.join('--' + k for k in missing)} (or a config file with "
                              f"{' and '.join(missing)}; to continue a fine-tune: --resume --out DIR)")
        return cls(**data)


@dataclass
class FinetuneResult:
    """What a fine-tune produced: its checkpoint and what it was resolved to.

    base: the base checkpoint's reference ("starter" or an absolute path).
    history, horizon: the history it trained with and the test horizon it checked.
    dataset: the data it fine-tuned on (all splits), for scoring it (`rollouts.compare`).
    """

    output_dir: Path
    checkpoint: Path
    base: str
    level: int
    trainable_parameters: int
    history: int
    horizon: int
    train: TrainResult
    dataset: PDEDataset
    train_from_scratch: bool = False

    @property
    def label(self) -> str:
        """How tables name the fine-tuned model: "fine-tuned (level L)" or "from scratch"."""
        return "from scratch" if self.train_from_scratch else f"fine-tuned (level {self.level})"


def is_main_process() -> bool:
    """True unless this is a secondary process of a multi-process launch (RANK > 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def _default_history(base: MORPH) -> int:
    """The history the base was trained with (its run record), else its max_ar."""
    record = run_record(base)
    if record is not None and 1 <= record.history <= base.config.max_ar:
        return record.history
    return base.config.max_ar


def _data_source(config: FinetuneConfig) -> DataSource:
    return DataSource(source=config.data, format=config.format, options=dict(config.options),
                      max_train_traj=config.n_traj)


def _train_config(config: FinetuneConfig, base_config: MorphConfig, base_ref: str, history: int) -> TrainConfig:
    level = config.effective_level
    values: dict[str, Any] = dict(
        datasets=[_data_source(config)], model=base_config,
        init_checkpoint=None if config.from_scratch else base_ref,
        history=history, output_dir=config.output_dir,
        lr=SCRATCH_LR if config.from_scratch else DEFAULT_LR[level],
    )
    values.update(config.train.given())
    if values.get("steps") is None and values.get("epochs") is None:
        values["steps"] = DEFAULT_FINETUNE_STEPS
    if config.train.warmup_steps is None and values.get("steps"):
        values["warmup_steps"] = min(50, values["steps"] // 10)
    return TrainConfig(**values)


def _check_dataset(dataset: PDEDataset, model: MorphConfig, checkpoint: str, history: int) -> None:
    """ConfigError naming the limit when the dataset does not fit the checkpoint's model."""
    spec = dataset.spec
    where = f"dataset {spec.source or spec.name}"
    model.check_fits(spec, history=history, where=f"{where} (checkpoint {checkpoint!r})")
    if spec.n_steps < history + 1:
        raise ConfigError(f"{where}: trajectories of {spec.n_steps} frames are too short for history {history} "
                          f"plus a target; use a shorter --history")
    if len(dataset) < 3:
        raise ConfigError(f"{where} has {len(dataset)} trajectories; a fine-tune needs at least 3 "
                          f"(disjoint train, validation and test trajectories)")


def _splits(dataset: PDEDataset, config: FinetuneConfig, seed: int) -> dict[str, Any]:
    """The trajectories of each split, as WindowDataset chooses them; train cut to n_traj."""
    record = split_record(len(dataset), seed, max_train=config.n_traj)
    n_train = len(record["train"]) + len(record["train_unused"])
    if config.n_traj is not None and config.n_traj > n_train:
        raise ConfigError(f"--n-traj {config.n_traj}: the training split of {config.data} has only "
                          f"{n_train} of its {len(dataset)} trajectories (the rest are validation "
                          f"and test); ask for at most {n_train}")
    return record


def _check_resume(out: Path, config: FinetuneConfig) -> None:
    previous = FinetuneConfig.from_run(out)
    conflicts = resume_conflicts(previous, config) if previous is not None else []
    if conflicts:
        raise ConfigError(f"--resume: {out} holds a fine-tune with other settings ({', '.join(conflicts)}); resume "
                          f"with the same settings or choose another --out")


def finetune(config: FinetuneConfig, resume: bool = False, progress: bool = True) -> FinetuneResult:
    """Fine-tune `config.checkpoint` on `config.data`; returns the checkpoint and what was resolved.

    With `resume`, continues from the latest complete checkpoint in `config.output_dir`.
    """
    out = Path(config.output_dir)
    where = resolve_checkpoint(config.checkpoint)  # the one resolution of the base's path
    base_ref = where.reference
    if base_ref != "starter" and out.resolve() in (Path(base_ref), *Path(base_ref).parents):
        raise ConfigError(f"--out {out} holds the base checkpoint {base_ref}; the fine-tune would overwrite "
                          f"it: choose another --out")
    base = load_pretrained(where)  # an adapter directory comes back merged
    if not isinstance(base, MORPH):
        arch = base.config.to_dict().get("arch", type(base).__name__)
        raise ConfigError(f"--checkpoint {config.checkpoint}: holds a {arch} baseline; morph finetune adapts MORPH "
                          f"checkpoints (LoRA levels, from scratch in the base's architecture). Train a baseline "
                          f"on new data with: morph pretrain --arch {arch} --dataset {config.data}")
    history = config.history or _default_history(base)
    cache = Path(config.train.cache_dir) if config.train.cache_dir else default_cache_dir()
    # a simulator's data is generated into the cache by the main process; the others wait, then open it
    with process_state().main_process_first():
        dataset = resolve_source(_data_source(config), cache)
    base = grow_to(base, [dataset.spec])
    if getattr(base, "growth", None) is not None:
        logger.info("%s: %s, trained at every level", dataset.spec.source or dataset.spec.name, base.growth)
    _check_dataset(dataset, base.config, config.checkpoint, history)
    train_config = _train_config(config, base.config, base_ref, history)
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
              "horizon": horizon, "base_config": base.config.to_dict(),
              "growth": str(base.growth) if getattr(base, "growth", None) is not None else None}
    if resume:
        _check_resume(out, config)
    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / FINETUNE_FILE, record)
        write_json_atomic(out / SPLITS_FILE, splits)

    trainable: dict[str, int] = {}

    def model_factory() -> MORPH:
        model = MORPH(base.config) if config.from_scratch else copy.deepcopy(base)
        model.source = None if config.from_scratch else base_ref
        trainable["n"] = apply_level(model, level, rank=config.rank, alpha=config.alpha,
                                     dropout=config.lora_dropout, targets=config.targets, base=base_ref)
        return model

    train_result = train(train_config, resume=resume, progress=progress, model_factory=model_factory,
                         task="finetune")
    return FinetuneResult(output_dir=out, checkpoint=train_result.checkpoint, base=base_ref, level=level,
                          trainable_parameters=trainable.get("n", 0), history=history, horizon=horizon,
                          train=train_result, dataset=dataset, train_from_scratch=config.from_scratch)
