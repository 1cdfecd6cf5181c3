"""`TrainConfig`: everything a pretraining or fine-tuning run needs, validated.

A run is reproducible from its output directory alone: the resolved config is
saved there as `train_config.json` (the YAML file a user writes has the same keys).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Union

from pde_data import DataError, DatasetSpec
from pde_data.files import write_json_atomic
from pde_data.simulators.corpus import CORPUS_PREFIX, corpus_stores

from morph.config import PRESETS, ConfigError, MorphConfig
from morph.model.baselines import BASELINES, SHAPE_FIELDS, BaselineConfig
from morph.precision import PRECISIONS, Precision
from morph.train.config_files import check_config_keys, read_config_file

__all__ = ["ARCHS", "DataSource", "ModelConfig", "TrainConfig", "ConfigError", "DEFAULT_MIX", "default_cache_dir",
           "model_from_dict", "model_to_dict", "resume_conflicts"]

LossBalance = Literal["none", "ema"]
#: The choices of `TrainConfig.loss_balance`.
LOSS_BALANCES: tuple[str, ...] = ("none", "ema")
NanPolicy = Literal["stop", "skip"]
#: The choices of `TrainConfig.nan_policy` (`morph.train.guard`).
NAN_POLICIES: tuple[str, ...] = ("stop", "skip")

#: The architectures a run can train: MORPH (the default) and the per-dataset baselines.
ARCHS: tuple[str, ...] = ("morph", *BASELINES)

#: The built-in mix `morph pretrain` trains on: 1D, 2D and 3D; scalar and vector fields.
DEFAULT_MIX: tuple[str, ...] = ("burgers_1d", "euler_1d", "shallow_water_2d", "navier_stokes_2d",
                                "advection_diffusion_3d")
#: Grids of the default mix other than the simulator's own default: 3D at 16³ (its 32³ steps cost
#: more than the other four datasets' together, and the default run has to fit in 10 minutes).
DEFAULT_RESOLUTIONS: dict[str, int] = {"advection_diffusion_3d": 16}

#: The model a run trains: MORPH's config, or a baseline's (its data-shape fields set from the data).
ModelConfig = Union[MorphConfig, BaselineConfig]
#: The small model of the default run (finishes in minutes on 2 CPU cores).
DEFAULT_MODEL = MorphConfig.from_preset("Ti", dim=128, heads=4, depth=2, mlp_dim=256, heads_xa=4, patch_size=4,
                                        max_ar=4, dropout=0.0, emb_dropout=0.0, predict_delta=True,
                                        delta_scale=True, boundary_padding=True, boundary_embedding=True)


#: Length of a run that names neither steps nor epochs (the default run: under 10 minutes on 2 CPU
#: cores of either kind the project measures on; docs/benchmarks/default-pretraining.md).
DEFAULT_STEPS = 2000
#: Where a run directory records its TrainConfig.
RUN_CONFIG_FILE = "train_config.json"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/morph-pde`, else `~/.cache/morph-pde`."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "morph-pde"


def model_from_dict(values: Mapping[str, Any]) -> ModelConfig:
    """The model config of a config file's (or a run record's) `model` mapping.

    MORPH (no `"arch"`, or `"arch": "morph"`): an optional `preset` (Ti, S, M, L, XL; its fields
    first) and any `MorphConfig` fields; without a preset, `MorphConfig`'s defaults (Ti's sizes).
    A baseline (`"arch": "fno" | "unet"`): the sizes of its config (`FNOConfig`, `UNetConfig`), not
    its data-shape fields (history, fields, components, spatial_dims), which come from the data."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"model must be a mapping (a preset and MorphConfig fields, or arch and a baseline's "
                          f"sizes), got {values!r}")
    values = dict(values)
    arch = values.pop("arch", "morph")
    if arch not in ARCHS:
        raise ConfigError(f"model.arch: unknown architecture {arch!r}; available: {', '.join(ARCHS)}")
    if arch == "morph":
        preset = values.pop("preset", None)
        known = {f.name for f in dataclasses.fields(MorphConfig)} | {"preset", "arch"}
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"model.preset: unknown preset {preset!r}; available: {', '.join(PRESETS)}")
    else:
        config_class = BASELINES[arch].config_class
        known = set(config_class.size_fields()) | {"arch"}
        shape = sorted(set(values) & set(SHAPE_FIELDS))
        if shape:
            raise ConfigError(f"model: {', '.join(shape)} of a {arch} baseline come from the data; remove them "
                              f"from the model settings")
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"model: unknown keys {unknown} for arch {arch!r}; allowed: {sorted(known)}")
    try:
        if arch == "morph":
            return MorphConfig.from_dict({**PRESETS.get(preset or "Ti", {}), **values})
        return config_class.from_dict(values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from err


def model_to_dict(model: ModelConfig) -> dict[str, Any]:
    """The `model` mapping of a run record: every `MorphConfig` field, or a baseline's `"arch"` and sizes
    (its data-shape fields come from the data); `model_from_dict` reads it back."""
    if isinstance(model, MorphConfig):
        return model.to_dict()
    return {"arch": model.arch, **{name: getattr(model, name) for name in model.size_fields()}}


def resume_conflicts(saved: Any, new: Any) -> list[str]:
    """The one rule of what a resumed run may change: `"key: saved -> new"` for each key of `new.to_dict()`
    whose value differs from `saved`'s, except the keys its class lists in `RESUME_MAY_CHANGE` (its
    length and housekeeping, not what it learns from or how). `saved` and `new` are configs of one class."""
    before, after = saved.to_dict(), new.to_dict()
    return [f"{key}: {before.get(key)!r} -> {after[key]!r}" for key in after
            if key not in type(new).RESUME_MAY_CHANGE and before.get(key) != after[key]]


@dataclass
class DataSource:
    """One dataset of the mix: a simulator name or a path (any format pde_data opens).

    For simulators, `n_traj`, `steps`, `resolution` and `seed` say what to
    generate (once, into the cache) and `options` are its physical parameters
    (e.g. `{"viscosity": 0.005}`, see `morph data list`); for paths `options` go to the reader.
    `max_train_traj` keeps only that many trajectories of the training split
    (the first ones of its sorted indices; validation and test are unchanged).
    A `corpus:DIR` source (`morph data corpus`) trains on every store of that corpus, less the
    simulators named in `exclude` (e.g. the held-out families of a leave-family-out pretraining);
    each simulator's share of its weight is equal unless `simulator_weights` scales some of them
    (e.g. `{"heat_3d": 3.0}`: three times the batches of any other simulator).
    """

    source: str
    weight: float = 1.0
    format: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    n_traj: int = 32
    steps: int = 20
    resolution: Optional[int] = None
    seed: int = 0
    batch_size: Optional[int] = None
    max_train_traj: Optional[int] = None
    exclude: list[str] = field(default_factory=list)
    simulator_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_train_traj is not None and (isinstance(self.max_train_traj, bool)
                                                or not isinstance(self.max_train_traj, int)
                                                or self.max_train_traj < 1):
            raise ConfigError(f"dataset {self.source!r}: max_train_traj must be a positive int or null, "
                              f"got {self.max_train_traj!r}")
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"dataset source must be a simulator name or a path, got {self.source!r}")
        weight = self.weight
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 < weight < math.inf):
            raise ConfigError(f"dataset {self.source!r}: weight must be a finite number > 0, got {self.weight!r}")
        if not isinstance(self.exclude, (list, tuple)) or not all(isinstance(n, str) for n in self.exclude):
            raise ConfigError(f"dataset {self.source!r}: exclude must be a list of simulator names, "
                              f"got {self.exclude!r}")
        self.exclude = list(self.exclude)
        if not isinstance(self.simulator_weights, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf
                for k, v in self.simulator_weights.items()):
            raise ConfigError(f"dataset {self.source!r}: simulator_weights must map simulator names to finite "
                              f"numbers > 0, got {self.simulator_weights!r}")
        if self.simulator_weights and not self.source.startswith(CORPUS_PREFIX):
            raise ConfigError(f"dataset {self.source!r}: simulator_weights scales the simulators of a "
                              f"{CORPUS_PREFIX}DIR source only; use weight for this one")
        if self.exclude and not self.source.startswith(CORPUS_PREFIX):
            raise ConfigError(f"dataset {self.source!r}: exclude ({', '.join(self.exclude)}) leaves simulators out "
                              f"of a {CORPUS_PREFIX}DIR source only; drop it, or name the corpus as {CORPUS_PREFIX}DIR")

    @classmethod
    def parse(cls, item: Union[str, dict[str, Any], "DataSource"]) -> "DataSource":
        """From a dict, a DataSource, or a string `NAME_OR_PATH[:WEIGHT]`."""
        if isinstance(item, DataSource):
            return item
        if isinstance(item, str):
            name, sep, weight = item.rpartition(":")
            if "://" in item and "/" not in item.split("://", 1)[1]:  # http://host:8080 is a port, no weight
                sep = ""
            if sep and name and _is_number(weight):
                return cls(source=name, weight=float(weight))
            return cls(source=item)
        if isinstance(item, dict):
            check_config_keys(item, cls, "datasets[]")
            return cls(**item)
        raise ConfigError(f"a dataset entry must be a string or a mapping, got {type(item).__name__}")


def _expand_corpus(source: "DataSource") -> list["DataSource"]:
    """A `corpus:DIR` source as one source per store of the corpus in DIR, less the simulators in
    `source.exclude`, each with its share of the source's weight (`corpus_stores`)."""
    if not source.source.startswith(CORPUS_PREFIX):
        return [source]
    try:
        stores = corpus_stores(source.source[len(CORPUS_PREFIX):], source.exclude, source.simulator_weights)
    except DataError as err:
        raise ConfigError(f"dataset {source.source!r}: {err}") from err
    return [dataclasses.replace(source, source=path, weight=source.weight * share, exclude=[], simulator_weights={})
            for path, share in stores]


def exclude_from_corpus(datasets: list[Any], names: list[str]) -> list[DataSource]:
    """`datasets` (entries as a config file has them) with the simulators `names` added to the
    `exclude` of every `corpus:DIR` entry; a ConfigError when there is none (`--exclude`)."""
    sources = [DataSource.parse(d) for d in datasets]
    if not any(s.source.startswith(CORPUS_PREFIX) for s in sources):
        raise ConfigError(f"--exclude {' '.join(names)}: leaves simulators out of a {CORPUS_PREFIX}DIR dataset, "
                          f"and none is given (datasets: {', '.join(s.source for s in sources) or 'none'}); "
                          f"add --dataset {CORPUS_PREFIX}DIR")
    return [dataclasses.replace(s, exclude=[*s.exclude, *(n for n in names if n not in s.exclude)])
            if s.source.startswith(CORPUS_PREFIX) else s for s in sources]


@dataclass
class TrainConfig:
    """A training run. `model` is the model it trains: a `MorphConfig`, or an `FNOConfig` /
    `UNetConfig` for a baseline, whose data-shape fields (history, fields, components, spatial
    axes) are set from its one dataset when the model is built (`model_config(spec)`), so a
    baseline takes exactly one dataset and one history: no curriculum or min_history. A mapping
    given for `model` (a config file's: a preset plus MorphConfig fields, or `arch` plus a
    baseline's sizes) is read by `model_from_dict`; `datasets` entries may be strings or mappings
    (`DataSource.parse`). `to_dict` / `from_dict` are the run record (`train_config.json`).

    Length: `steps` optimiser steps, or `epochs` passes of `batches_per_epoch`
    batches (null: enough to see each training window about once); steps win
    when both are given, and with neither the run is `DEFAULT_STEPS` steps.
    Validation runs at the end of every epoch.
    Wall-clock budget: with `max_minutes`, the length is fitted to the steps that fit in that many
    minutes (measured on the first steps, refitted as the run goes; `morph.train.budget`), whatever
    `steps` or `epochs` say, and the cosine schedule follows; the run ends with its checkpoint.
    Precision: `mixed_precision` "auto" trains under bfloat16 autocast where the hardware has it
    natively (a GPU that supports it, or a CPU with AVX512-BF16 or AMX; `morph.precision`), else in
    float32 ("no"), for MORPH; the FNO and U-Net baselines stay in float32 under "auto" (the U-Net
    diverged under bfloat16 where it trained in float32: docs/benchmarks/bf16-compile.md); weights, optimiser state
    and checkpoints stay float32. `compile` runs the model
    through torch.compile (Accelerate's inductor backend): the first steps of each shape compile.
    Curriculum: the first `curriculum_steps` steps use history t = 1 (stage 1),
    the rest the full `history` (stage 2, trains the time-axis attention).
    With `min_history`, each stage-2 step draws its history length uniformly
    from `min_history..history` (seeded by `seed` and the step, so a resumed run
    draws the same), and the model learns to use any history in that range.
    Rollout training: with `unroll = N > 1` each step draws n from 1..N (seeded by
    `seed` and the step) and its loss is that of the n-th autoregressive
    prediction, the first n - 1 made without gradient (the pushforward trick);
    windows then need N future frames. Validation stays next-step.
    Rollout stability: `noise` adds Gaussian noise of that many times each field's scale to the
    history frames of every training batch (noise injection, 0 <= noise < 1); `patch_jitter`
    moves the patch grid by 0..patch_jitter cells per axis, drawn per batch (wrapping on periodic
    axes with boundary padding), and back on the output.
    Loss balancing: with `loss_balance = "ema"` each batch's loss (a batch holds one dataset) is
    divided by an exponential moving average of its own dataset's losses (decay `loss_balance_decay`
    per batch of that dataset; `morph.train.balance`), so easy datasets (near persistence) and hard
    ones pull on the model alike; "none" (default) trains on the raw losses. The logged loss is the
    raw one either way. A step whose gradient `grad_clip` clips has the clipped norm whatever its
    loss's scale, so balancing acts on the steps below the clip.
    Non-finite steps (`morph.train.guard`): a step whose loss or gradient norm is NaN or infinite
    never updates the weights. With `nan_policy` "stop" (default) the run stops there with
    `NonFiniteLossError` naming the step, the datasets of its batches and the fixes, its last
    checkpoint untouched; with "skip" such steps are skipped (no update; the run's summary counts
    them) up to `nan_max_skips` times, and the next one stops the run the same way. No checkpoint
    ever holds a non-finite weight. Both may change on `--resume`.
    Sharding: with `fsdp`, several launched processes shard parameters, gradients and optimiser
    state with FSDP2 (`morph.train.sharding`; an `accelerate launch` with an FSDP config does the
    same); without it they replicate the model (DDP). A run resumes with the sharding it was saved with.
    """

    datasets: list[DataSource] = field(default_factory=lambda: [DataSource(n, resolution=DEFAULT_RESOLUTIONS.get(n))
                                                                for n in DEFAULT_MIX])
    model: ModelConfig = field(default_factory=lambda: dataclasses.replace(DEFAULT_MODEL))
    init_checkpoint: Optional[str] = None
    history: int = 2
    batch_size: int = 8
    steps: Optional[int] = None
    epochs: Optional[int] = None
    batches_per_epoch: Optional[int] = 250
    lr: float = 1e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    grad_accum: int = 1
    max_minutes: Optional[float] = None
    mixed_precision: Precision = "auto"
    compile: bool = False
    seed: int = 0
    output_dir: str = "runs/pretrain"
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    curriculum_steps: int = 0
    min_history: Optional[int] = None
    unroll: int = 1
    noise: float = 0.0
    patch_jitter: int = 0
    loss_balance: LossBalance = "none"
    loss_balance_decay: float = 0.9
    nan_policy: NanPolicy = "stop"
    nan_max_skips: int = 10
    num_workers: int = 0
    in_memory: bool = True
    val_windows: int = 64
    split_seed: int = 0
    cache_dir: Optional[str] = None
    fsdp: bool = False

    #: Keys a resumed run may change (`resume_conflicts`): its length (and with it the warmup a
    #: fine-tune derives from it; the cosine schedule stretches from the resume point) and housekeeping.
    RESUME_MAY_CHANGE: ClassVar[tuple[str, ...]] = (
        "steps", "epochs", "max_minutes", "warmup_steps", "output_dir", "cache_dir", "num_workers", "checkpoint_every",
        "keep_checkpoints", "val_windows", "in_memory", "compile", "nan_policy", "nan_max_skips")

    def __post_init__(self) -> None:
        self.datasets = [source for d in self.datasets for source in _expand_corpus(DataSource.parse(d))]
        if not self.datasets:
            raise ConfigError("datasets: give at least one simulator name or path")
        if isinstance(self.model, Mapping):
            self.model = model_from_dict(self.model)
        if not isinstance(self.model, (MorphConfig, BaselineConfig)):
            raise ConfigError(f"model must be a MorphConfig, a baseline's config (FNOConfig, UNetConfig) or a "
                              f"mapping of one, got {type(self.model).__name__}")
        for name in ("history", "batch_size", "grad_accum", "checkpoint_every", "keep_checkpoints",
                     "val_windows", "unroll"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        for name in ("steps", "epochs", "batches_per_epoch"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive int or null, got {value!r}")
        if self.steps is None and self.epochs is None:
            self.steps = DEFAULT_STEPS
        for name in ("lr", "weight_decay", "grad_clip", "min_lr_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
        if not self.lr > 0 or self.weight_decay < 0 or self.grad_clip < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"bad optimiser settings: lr={self.lr}, weight_decay={self.weight_decay}, "
                              f"grad_clip={self.grad_clip}, min_lr_ratio={self.min_lr_ratio}")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(f"mixed_precision must be one of {', '.join(PRECISIONS)} (\"no\" = float32; \"auto\" = "
                              f"bf16 where the hardware has it natively), got {self.mixed_precision!r}")
        if self.max_minutes is not None and (isinstance(self.max_minutes, bool)
                                             or not isinstance(self.max_minutes, (int, float))
                                             or not 0 < self.max_minutes < math.inf):
            raise ConfigError(f"max_minutes must be a number of minutes > 0 or null (no budget), "
                              f"got {self.max_minutes!r}")
        for name in ("compile", "fsdp"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.warmup_steps < 0 or self.curriculum_steps < 0 or self.num_workers < 0:
            raise ConfigError("warmup_steps, curriculum_steps and num_workers must be >= 0")
        if self.min_history is not None and not (isinstance(self.min_history, int)
                                                 and 1 <= self.min_history <= self.history):
            raise ConfigError(f"min_history must be an int in 1..history ({self.history}) or null, "
                              f"got {self.min_history!r}")
        if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float)) or not 0 <= self.noise < 1:
            raise ConfigError(f"noise must be a number in [0, 1) (the noise scale relative to each field's "
                              f"scale; 0 = off), got {self.noise!r}")
        if self.loss_balance not in LOSS_BALANCES:
            raise ConfigError(f"loss_balance must be one of {', '.join(map(repr, LOSS_BALANCES))} (\"ema\": divide "
                              f"each dataset's loss by a running average of its own), got {self.loss_balance!r}")
        if (isinstance(self.loss_balance_decay, bool) or not isinstance(self.loss_balance_decay, (int, float))
                or not 0 <= self.loss_balance_decay < 1):
            raise ConfigError(f"loss_balance_decay must be a number in [0, 1) (the weight the running average keeps "
                              f"at each batch of its dataset; 0 = the last loss alone), "
                              f"got {self.loss_balance_decay!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy must be one of {', '.join(map(repr, NAN_POLICIES))} (\"stop\": end the run "
                              f"at a NaN or infinite loss; \"skip\": skip up to nan_max_skips such steps), "
                              f"got {self.nan_policy!r}")
        if isinstance(self.nan_max_skips, bool) or not isinstance(self.nan_max_skips, int) or self.nan_max_skips < 0:
            raise ConfigError(f"nan_max_skips must be an int >= 0 (the non-finite steps nan_policy skip may skip in a "
                              f"run), got {self.nan_max_skips!r}")
        if self.arch == "morph":
            patch = self.morph_config().patch_size  # validates the model fields now, not at step 0
        else:
            self._check_baseline()
            patch = 1  # no patch grid to jitter
        if (isinstance(self.patch_jitter, bool) or not isinstance(self.patch_jitter, int)
                or not 0 <= self.patch_jitter < patch):
            raise ConfigError(f"patch_jitter must be an int in 0..{patch - 1} (cells, below the model's patch "
                              f"size {patch}; 0 = off), got {self.patch_jitter!r}")

    @property
    def arch(self) -> str:
        """The architecture trained: "morph" (default), "fno" or "unet"."""
        return self.model.arch if isinstance(self.model, BaselineConfig) else "morph"

    @classmethod
    def nested_keys(cls, key: str, values: Mapping[str, Any]) -> Optional[list[str]]:
        """The keys of the mapping `key` of a config as `values` (for `--set model.KEY=...`): those of
        `model` for its arch (`values["model"]["arch"]`, else MORPH); [] for a key that is not a mapping."""
        if key != "model":
            return []
        arch = (values.get("model") or {}).get("arch", "morph")
        if arch not in BASELINES:
            return ["preset", *(f.name for f in dataclasses.fields(MorphConfig))]
        return ["arch", *BASELINES[arch].config_class.size_fields()]

    def _check_baseline(self) -> None:
        if len(self.datasets) != 1:
            raise ConfigError(f"model.arch {self.arch!r}: a baseline is trained on exactly one dataset (it is built "
                              f"for that dataset's shape), got {len(self.datasets)}: "
                              f"{', '.join(d.source for d in self.datasets)}; pass one --dataset")
        if self.curriculum_steps or self.min_history not in (None, self.history):
            raise ConfigError(f"model.arch {self.arch!r}: a baseline reads a fixed history, so curriculum_steps "
                              f"({self.curriculum_steps}) must be 0 and min_history ({self.min_history}) null; "
                              f"got other values")

    def model_config(self, spec: Optional[DatasetSpec] = None) -> Union[MorphConfig, BaselineConfig]:
        """The config of the model this run trains: a MorphConfig, or a baseline's config built for
        `spec` (the run's one dataset; required for a baseline) read with `history` frames."""
        if self.arch == "morph":
            return self.morph_config()
        if spec is None:
            raise ConfigError(f"model.arch {self.arch!r}: a baseline's config needs the spec of its dataset")
        sizes = {name: getattr(self.model, name) for name in self.model.size_fields()}
        return type(self.model).for_data(spec, self.history, **sizes)

    def morph_config(self) -> MorphConfig:
        """`model`, a `MorphConfig`; a `ConfigError` for a baseline arch or a `max_ar` shorter than `history`."""
        if not isinstance(self.model, MorphConfig):
            raise ConfigError(f"model.arch is {self.arch!r}, not MORPH; use TrainConfig.model_config(spec)")
        config = self.model
        if config.max_ar < self.history:
            raise ConfigError(f"history {self.history} exceeds the model's max_ar {config.max_ar}; "
                              f"set model.max_ar >= {self.history} or a shorter history")
        return config

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache_dir()

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values (what `save` writes as JSON; `model` as `model_to_dict` writes it)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "datasets": [dataclasses.asdict(d) for d in self.datasets],
                "model": model_to_dict(self.model)}

    def save(self, path: Union[str, Path]) -> None:
        """Write the config as JSON to `path`, atomically."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def from_run(cls, output_dir: Union[str, Path]) -> Optional["TrainConfig"]:
        """The config a run in `output_dir` was started with (its `train_config.json`), or None."""
        path = Path(output_dir) / RUN_CONFIG_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err}); fix it or start a new run elsewhere") from err
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    def resume_conflicts(self, saved: "TrainConfig") -> list[str]:
        """`"key: saved -> new"` for each setting that differs from `saved` and may not change
        when a run resumes (`resume_conflicts`: everything but `RESUME_MAY_CHANGE`)."""
        return resume_conflicts(saved, self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """A config from `to_dict`'s values, or from a run record or config file of an earlier version
        (a `model` mapping with a preset: `model_from_dict`); unknown keys are a `ConfigError` naming them."""
        check_config_keys(d, cls, "config")
        return cls(**d)

    @classmethod
    def from_file(cls, path: Union[str, Path], **overrides: Any) -> "TrainConfig":
        """Load a YAML (or JSON) file, then apply `overrides` (None values are ignored)."""
        path = Path(path)
        data = read_config_file(path)
        check_config_keys(data, cls, str(path))
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
