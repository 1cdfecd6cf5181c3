"""The data of a training run: resolve each `DataSource` to a `PDEDataset`
(simulators are generated once into the cache), then windows, splits and the
mixture loader."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import torch
from torch.utils.data import DataLoader

import pde_data
import pde_data.remote
from pde_data import Batch, DataError, MixtureBatchSampler, PDEDataset, WindowDataset, collate
from pde_data.simulators import SIMULATORS, check_parameters

from morph.config import MorphConfig
from morph.model.baselines import BaselineConfig
from morph.train.config import ConfigError, DataSource, TrainConfig

__all__ = ["RunData", "build_data", "open_data", "resolve_source", "store_labels"]

logger = logging.getLogger(__name__)


def store_labels(sources: Sequence[DataSource]) -> list[str]:
    """One readable label per source, unique within the run, that the run's per-store figures are
    keyed by (`TrainResult.per_dataset`, `summary.json`, the run record): a simulator's name, a
    store's file name (`.../burgers_1d-periodic-r64.zarr` -> `burgers_1d-periodic-r64.zarr`, a URL's
    last path segment); a label met again gets `#2`, `#3`, ... (two stores of one name in two
    directories, one simulator twice with other options)."""
    labels: list[str] = []
    for source in sources:
        name = source.source if source.source in SIMULATORS else re.split(r"[/\\]", source.source.rstrip("/\\"))[-1]
        name = name or source.source
        label, k = name, 1
        while label in labels:
            k += 1
            label = f"{name}#{k}"
        labels.append(label)
    return labels


def resolve_source(source: DataSource, cache: Path) -> PDEDataset:
    """Open a path, or generate a simulator once into `cache/data/` and open that store."""
    if source.source in SIMULATORS:
        sim = SIMULATORS[source.source]
        check_parameters(sim.name, source.options)
        resolution = source.resolution or sim.default_resolution
        # The name holds everything the data depends on: the arguments, and the parameters in effect
        # (the simulator's defaults, drawn ranges included, with the options over them) as a short hash.
        parameters = json.dumps({**sim.parameters, **source.options}, sort_keys=True, default=str)
        digest = hashlib.sha256(parameters.encode()).hexdigest()[:10]
        name = f"{sim.name}-n{source.n_traj}-t{source.steps}-r{resolution}-s{source.seed}-p{digest}.zarr"
        path = cache / "data" / name
        if not path.exists():
            logger.info("generating %s into %s (once; cached for later runs)", sim.name, path)
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset = pde_data.generate(sim.name, n_traj=source.n_traj, steps=source.steps,
                                        resolution=resolution, seed=source.seed, **source.options)
            pde_data.convert(dataset, path, progress=False)
        return pde_data.open(path)
    if not Path(source.source).exists() and "://" not in source.source:
        raise ConfigError(
            f"dataset {source.source!r} is neither a built-in simulator ({', '.join(sorted(SIMULATORS))}) "
            "nor an existing path"
        )
    return open_data(source.source, cache, format=source.format, **source.options)


def open_data(path: str, cache: Path, format: str = "auto", **options) -> PDEDataset:
    """`pde_data.open(path, format, **options)`; a URL is read through the cache in `cache/remote`
    (what `options["remote"]`, a mapping of `pde_data.remote.RemoteConfig` fields, does not set)."""
    if pde_data.remote.is_url(str(path)):
        remote = options.pop("remote", None) or {}
        if not isinstance(remote, dict):
            raise ConfigError(f"dataset {path!r}: options.remote must be a mapping of RemoteConfig fields "
                              f"(timeout, retries, cache_dir, cache_bytes, ...), got {remote!r}")
        options["remote"] = {"cache_dir": str(cache / "remote"), **remote}
    return pde_data.open(path, format=format, **options)


@dataclass
class RunData:
    """Train windows with their mixture loader, and validation windows per dataset.

    Each training batch says which dataset of the mix it comes from in
    `batch.extras["dataset_index"]` (the index in `datasets` and `labels`); `collate_fn` (for
    validation) makes plain batches. `labels` name the stores (`store_labels`).
    """

    datasets: list[PDEDataset]
    labels: list[str]
    train: list[WindowDataset]
    val: list[WindowDataset]
    loader: DataLoader
    sampler: MixtureBatchSampler
    collate_fn: Callable[[list], Batch]

    @property
    def specs(self) -> list:
        return [d.spec for d in self.datasets]


def build_data(config: TrainConfig, model: Union[MorphConfig, BaselineConfig], processes: int = 1) -> RunData:
    """The run's datasets, each checked against the model (`model.check_fits`), with their
    windows and the mixture loader (components padded to `model.max_components`); the `processes`
    of the run step on one dataset at a time (`MixtureBatchSampler` group)."""
    datasets, train, val, batch_sizes = [], [], [], []
    for source in config.datasets:
        dataset = resolve_source(source, config.cache)
        model.check_fits(dataset.spec, history=config.history)
        if config.in_memory:
            dataset = dataset.to_memory()
        try:
            train.append(WindowDataset(dataset, history=config.history, horizon=config.unroll, split="train",
                                       seed=config.split_seed, max_trajectories=source.max_train_traj))
            val.append(WindowDataset(dataset, history=config.history, split="val", seed=config.split_seed))
        except DataError as err:
            hint = (f"; with unroll {config.unroll} every window also needs {config.unroll} future frames: "
                    "a smaller unroll fits too") if config.unroll > 1 else ""
            raise ConfigError(f"dataset {source.source!r}: {err}{hint}") from err
        datasets.append(dataset)
        batch_sizes.append(source.batch_size or config.batch_size)
    weights = [s.weight for s in config.datasets]
    concat, sampler = MixtureBatchSampler.concat(train, batch_size=batch_sizes, weights=weights,
                                                 num_batches=config.batches_per_epoch, seed=config.seed,
                                                 group=processes)
    # Components are padded to the model's limit so output slot (f, c) means the same in every batch.
    pad = functools.partial(collate, n_components=model.max_components)
    # Its own generator: starting an epoch (or resuming mid-epoch) must not draw from the global RNG,
    # which drives dropout and is restored exactly on resume.
    loader = DataLoader(concat, batch_sampler=sampler, collate_fn=pad, num_workers=config.num_workers,
                        persistent_workers=config.num_workers > 0,
                        generator=torch.Generator().manual_seed(config.seed))
    return RunData(datasets, store_labels(config.datasets), train, val, loader, sampler, pad)
