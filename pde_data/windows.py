"""Training samples: history windows over trajectories, splits, collate, mixtures.

A window of trajectory `i` starting at frame `s` is the history
`x = frames[s : s + k]` `(k, F, C, D, H, W)` and the target `y = frames[s + k]`
`(F, C, D, H, W)` (with `horizon > 1`, also `y_future = frames[s + k : s + k + horizon]`).
Splits are by trajectory, never by time, and deterministic from a seed.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Literal, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from pde_data.dataset import PDEDataset, map_reads
from pde_data.errors import DataError
from pde_data.layout import Batch, canonical_boundaries

__all__ = ["DEFAULT_FRACTIONS", "MixtureBatchSampler", "MixtureDataset", "WindowDataset", "collate",
           "split_record", "split_trajectories"]

logger = logging.getLogger(__name__)

Split = Literal["train", "val", "test", "all"]
SPLITS = ("train", "val", "test")


#: Train, validation and test shares of the trajectories.
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def split_trajectories(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Assign trajectory indices `0..n-1` to train / val / test, by a seeded permutation.

    Val and test get at least one trajectory each when `n >= 3` and their
    fraction is positive; the rest goes to train. Sorted indices per split.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DataError(f"split fractions must be three non-negative numbers (train, val, test), got {fractions}")
    total = float(sum(fractions))
    fr = [f / total for f in fractions]
    n_val = int(round(fr[1] * n))
    n_test = int(round(fr[2] * n))
    if n >= 3:
        n_val = max(n_val, 1 if fr[1] > 0 else 0)
        n_test = max(n_test, 1 if fr[2] > 0 else 0)
    if n_val + n_test >= n:  # keep at least one trajectory for training
        n_val, n_test = (0, 0) if n < 3 else (min(n_val, 1), min(n_test, 1))
    perm = np.random.default_rng(seed).permutation(n)
    parts = {"val": perm[:n_val], "test": perm[n_val:n_val + n_test], "train": perm[n_val + n_test:]}
    return {k: np.sort(v) for k, v in parts.items()}


def split_record(n: int, seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 max_train: Optional[int] = None) -> dict[str, Any]:
    """The trajectories of each split as a training run's `WindowDataset`s take them, for its `splits.json`:
    `train` (the first `max_train` of the training split; all when None), `train_unused`, `val`, `test`."""
    parts = split_trajectories(n, fractions, seed)
    train = parts["train"].tolist()
    used = train[:max_train] if max_train is not None else train
    return {"n_trajectories": n, "fractions": list(fractions), "seed": seed, "train": used,
            "train_unused": train[len(used):], "val": parts["val"].tolist(), "test": parts["test"].tolist()}


class WindowDataset(Dataset):
    """History/target windows over the trajectories of one split.

    Items are dicts: `x (k, F, C, D, H, W)`, `y (F, C, D, H, W)`, `mask (F, C)`,
    `dataset_mean (F, C)`, `dataset_std (F,)`, `traj`, `start`, and with
    `horizon > 1` also `y_future (horizon, F, C, D, H, W)`. `C` is the largest
    component count of the dataset, or `n_components` when given.

    `self.splits` records the trajectory indices of every split.
    """

    def __init__(self, dataset: PDEDataset, history: int = 4, horizon: int = 1,
                 split: Split = "train", fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 seed: int = 0, stride: int = 1, n_components: Optional[int] = None,
                 max_trajectories: Optional[int] = None) -> None:
        spec = dataset.spec
        where = spec.source or spec.name
        if history < 1 or horizon < 1 or stride < 1:
            raise DataError(f"history, horizon and stride must be >= 1, got {history}, {horizon}, {stride}")
        if history + horizon > spec.n_steps:
            raise DataError(
                f"{where}: trajectories have {spec.n_steps} frames, too few for history {history} + "
                f"horizon {horizon}; use a shorter history"
            )
        if split not in (*SPLITS, "all"):
            raise DataError(f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
        self.dataset = dataset
        self.history, self.horizon, self.stride = history, horizon, stride
        self.split = split
        self.splits = split_trajectories(len(dataset), fractions, seed)
        trajs = np.arange(len(dataset)) if split == "all" else self.splits[split]
        if max_trajectories is not None:
            trajs = trajs[:max_trajectories]
        if len(trajs) == 0:
            raise DataError(f"{where}: the {split!r} split is empty ({len(dataset)} trajectories, "
                            f"fractions {tuple(fractions)}); use more trajectories or other fractions")
        self.trajectories = trajs
        self.n_components = n_components
        self.windows_per_traj = (spec.n_steps - history - horizon) // stride + 1
        mean = np.zeros((len(spec.fields), n_components or max(spec.components)), np.float32)
        std = np.ones(len(spec.fields), np.float32)
        for f, fs in enumerate(spec.fields):
            st = spec.stats.get(fs.name)
            if st is not None:
                mean[f, : fs.components] = st.mean
                std[f] = st.std if st.std > 0 else 1.0
        self._mean, self._std = torch.from_numpy(mean), torch.from_numpy(std)

    @property
    def spec(self):
        return self.dataset.spec

    def __len__(self) -> int:
        return len(self.trajectories) * self.windows_per_traj

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        traj = int(self.trajectories[index // self.windows_per_traj])
        start = (index % self.windows_per_traj) * self.stride
        stop = start + self.history + self.horizon
        frames, mask = self.dataset.frames(traj, slice(start, stop), self.n_components)
        frames = torch.from_numpy(frames)  # (k + horizon, F, C, D, H, W)
        item = {
            "x": frames[: self.history],
            "y": frames[self.history],
            "mask": torch.from_numpy(mask),
            "dataset_mean": self._mean,
            "dataset_std": self._std,
            "traj": traj,
            "start": start,
            "dataset": self.spec.name,
            "field_names": tuple(self.spec.field_names),
            "n_spatial_dims": self.spec.n_spatial_dims,
            "boundaries": canonical_boundaries(self.spec.boundary_conditions),
        }
        if self.horizon > 1:
            item["y_future"] = frames[self.history:]
        return item

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """The items of a batch (what a DataLoader asks for); read concurrently from remote data."""
        return map_reads(self.__getitem__, indices, concurrent=self.dataset.remote)


def _pad_to(t: torch.Tensor, n_fields: int, n_components: int, field_axis: int) -> torch.Tensor:
    """Zero-pad the (F, C) axes starting at `field_axis` up to (n_fields, n_components)."""
    f, c = t.shape[field_axis], t.shape[field_axis + 1]
    if (f, c) == (n_fields, n_components):
        return t
    out = t.new_zeros(*t.shape[:field_axis], n_fields, n_components, *t.shape[field_axis + 2:])
    out[(slice(None),) * field_axis + (slice(0, f), slice(0, c))] = t
    return out


def collate(items: Sequence[dict], n_fields: Optional[int] = None,
            n_components: Optional[int] = None) -> Batch:
    """Stack window items of ONE dataset into a `Batch`, zero-padding fields and
    components to `(n_fields, n_components)` (default: the largest in the batch)."""
    names = {it["dataset"] for it in items}
    if len(names) != 1:
        raise DataError(f"a batch must come from one dataset (shapes differ), got {sorted(names)}; "
                        "use MixtureBatchSampler")
    nf = max(it["x"].shape[1] for it in items) if n_fields is None else n_fields
    nc = max(it["x"].shape[2] for it in items) if n_components is None else n_components
    first = items[0]
    if nf < first["x"].shape[1] or nc < first["x"].shape[2]:
        raise DataError(f"cannot pad {tuple(first['x'].shape[1:3])} fields x components down to ({nf}, {nc})")
    stack = lambda key, axis: torch.stack([_pad_to(it[key], nf, nc, axis) for it in items])  # noqa: E731
    mean = torch.stack([_pad_mean(it["dataset_mean"], nf, nc) for it in items])
    std = torch.stack([torch.nn.functional.pad(it["dataset_std"], (0, nf - it["dataset_std"].shape[0]), value=1.0)
                       for it in items])
    return Batch(
        x=stack("x", 1), y=stack("y", 0), mask=stack("mask", 0),
        dataset=first["dataset"], field_names=first["field_names"],
        n_spatial_dims=first["n_spatial_dims"],
        dataset_mean=mean, dataset_std=std,
        traj=torch.tensor([it["traj"] for it in items]),
        start=torch.tensor([it["start"] for it in items]),
        y_future=stack("y_future", 1) if "y_future" in first else None,
        boundaries=first.get("boundaries"),
        extras={"dataset_index": first["dataset_index"]} if "dataset_index" in first else {},
    )


def _pad_mean(mean: torch.Tensor, nf: int, nc: int) -> torch.Tensor:
    out = mean.new_zeros(nf, nc)
    out[: mean.shape[0], : mean.shape[1]] = mean[:, :nc]
    return out


class MixtureDataset(ConcatDataset):
    """The datasets of a mixture, concatenated (`MixtureBatchSampler` indices refer to it). Items
    also carry `"dataset_index"`, the index of their dataset in the mixture (`collate` puts it in
    `Batch.extras`). A batch's indices, which all fall in one dataset, go to that dataset's
    `__getitems__` (so the windows of a batch of remote data are read concurrently)."""

    def _dataset_of(self, index: int) -> int:
        return int(np.searchsorted(self.cumulative_sizes, index, side="right"))

    def __getitem__(self, index: int) -> dict:
        return {**super().__getitem__(index), "dataset_index": self._dataset_of(index)}

    def __getitems__(self, indices: Sequence[int]) -> list:
        first = self._dataset_of(indices[0]) if indices else 0
        offset = self.cumulative_sizes[first - 1] if first else 0
        dataset = self.datasets[first]
        if all(offset <= i < self.cumulative_sizes[first] for i in indices) and hasattr(dataset, "__getitems__"):
            return [{**item, "dataset_index": first} for item in dataset.__getitems__([i - offset for i in indices])]
        return [self[i] for i in indices]


class MixtureBatchSampler(Sampler[list[int]]):
    """Whole batches from one dataset at a time, datasets drawn with `weights`.

    Indices refer to `ConcatDataset(datasets)` (see `concat`). Each epoch yields
    `num_batches` batches; within a dataset, windows are drawn without
    replacement from a fresh permutation, cycling when exhausted. Deterministic
    from `seed` and the epoch (`set_epoch`).

    group: consecutive runs of `group` batches come from one dataset, and `num_batches` is rounded
    up to a multiple of it. N processes under Accelerate take batches k, k + N, ... of this one
    sequence each (their shares: disjoint, and the same for the same seed), so with group = N
    they step on one dataset together: the same parameters get gradients on every process, which
    sharded training (FSDP) needs, as 1D, 2D and 3D batches use different attention axes.
    """

    def __init__(self, sizes: Sequence[int], batch_size: int | Sequence[int],
                 weights: Optional[Sequence[float]] = None, num_batches: Optional[int] = None,
                 seed: int = 0, group: int = 1) -> None:
        self.sizes = [int(s) for s in sizes]
        if not self.sizes or min(self.sizes) < 1:
            raise DataError(f"every dataset of a mixture needs at least one window, got sizes {self.sizes}")
        n = len(self.sizes)
        self.batch_sizes = [batch_size] * n if isinstance(batch_size, int) else [int(b) for b in batch_size]
        if len(self.batch_sizes) != n or min(self.batch_sizes) < 1:
            raise DataError(f"batch_size must be a positive int or one per dataset ({n}), got {batch_size}")
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (n,) or (w < 0).any() or w.sum() <= 0:
            raise DataError(f"weights must be {n} non-negative numbers with a positive sum, got {weights}")
        self.weights = w / w.sum()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        if isinstance(group, bool) or not isinstance(group, int) or group < 1:
            raise DataError(f"group must be a positive int (batches of one dataset in a row), got {group!r}")
        self.group = group
        num_batches = num_batches or max(1, sum(s // b for s, b in zip(self.sizes, self.batch_sizes)))
        self.num_batches = -(-num_batches // group) * group
        self.seed = seed
        self.epoch = 0

    @classmethod
    def concat(cls, datasets: Sequence[Dataset], batch_size: int | Sequence[int], **kwargs) -> tuple[MixtureDataset, "MixtureBatchSampler"]:
        """`(MixtureDataset(datasets), sampler)` ready for `DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)`."""
        return MixtureDataset(datasets), cls([len(d) for d in datasets], batch_size, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Draw the next iteration's batches for `epoch` (the order is seeded by seed and epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        perms = [rng.permutation(s) for s in self.sizes]
        cursors = [0] * len(self.sizes)
        groups = rng.choice(len(self.sizes), size=self.num_batches // self.group, p=self.weights)
        choices = np.repeat(groups, self.group)
        for d in choices:
            take = []
            while len(take) < self.batch_sizes[d]:
                if cursors[d] == self.sizes[d]:
                    perms[d] = rng.permutation(self.sizes[d])
                    cursors[d] = 0
                n = min(self.batch_sizes[d] - len(take), self.sizes[d] - cursors[d])
                take.extend(perms[d][cursors[d]:cursors[d] + n].tolist())
                cursors[d] += n
            yield [int(self.offsets[d] + i) for i in take]
