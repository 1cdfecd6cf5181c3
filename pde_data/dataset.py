"""`PDEDataset`: one opened source of trajectories, lazy, in its own layout.

Every reader and simulator returns a `PDEDataset`: a `DatasetSpec` plus one
array-like per field of shape `(N, T, C_f, *space)` that supports
`array[i, t0:t1]` and reads only that (numpy arrays, memory maps, zarr
arrays, or a `LazyField` view over h5py datasets in another axis order).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from pde_data.errors import DataError
from pde_data.layout import component_mask, to_canonical_space
from pde_data.spec import DatasetSpec, FieldStats

__all__ = ["LazyField", "PDEDataset", "StatsAccumulator", "compute_stats"]

logger = logging.getLogger(__name__)

_SPATIAL_LETTERS = "xyz"


class LazyField:
    """A read-on-demand `(N, T, C, *space)` view of arrays stored in another order.

    `sources` are array-likes (h5py/zarr datasets, memmaps) that each hold one
    or more components of the field; `axes` names the axes of every source with
    the letters `n` (trajectory), `t` (time), `c` (component; may repeat, e.g.
    `"c c"` for a d x d tensor, flattened row-major) and `x y z` (space, in the
    order given by `space`). A source without `n` or `t` is broadcast along it.
    Components of several sources are concatenated in order.

    >>> LazyField([h5["Vx"], h5["Vy"]], "n t x y", n=N, t=T)   # two scalars -> a 2-vector
    >>> LazyField([h5["t1_fields/velocity"]], "n t x y c")     # components last
    """

    def __init__(self, sources: Sequence[Any], axes: str, *, n: Optional[int] = None,
                 t: Optional[int] = None, space: str = "xyz") -> None:
        letters = axes.split()
        self.sources = list(sources)
        self.letters = letters
        if not self.sources:
            raise DataError("LazyField needs at least one source array")
        bad = [a for a in letters if a not in ("n", "t", "c", *_SPATIAL_LETTERS)]
        if bad:
            raise DataError(f"layout {axes!r}: unknown axis letters {bad}; use n, t, c, x, y, z")
        spatial = [a for a in letters if a in _SPATIAL_LETTERS]
        if len(set(spatial)) != len(spatial) or letters.count("n") > 1 or letters.count("t") > 1:
            raise DataError(f"layout {axes!r}: an axis letter other than c is repeated")
        self.space = [a for a in space if a in spatial]
        for s in self.sources:
            if len(s.shape) != len(letters):
                raise DataError(
                    f"layout {axes!r} names {len(letters)} axes but an array has shape {tuple(s.shape)}"
                )
        first = self.sources[0].shape
        sizes = dict(zip(letters, first))
        self.n = sizes.get("n", n)
        self.t = sizes.get("t", t)
        if self.n is None or self.t is None:
            raise DataError(f"layout {axes!r} has no n or t axis: pass n= and t= to broadcast")
        for s in self.sources[1:]:
            other = dict(zip(letters, s.shape))
            if any(other[a] != sizes[a] for a in letters if a != "c"):
                raise DataError(f"component arrays differ in shape: {tuple(first)} vs {tuple(s.shape)}")
        n_c = [int(np.prod([d for a, d in zip(letters, s.shape) if a == "c"])) for s in self.sources]
        self.components = sum(n_c)
        self.grid = tuple(sizes[a] for a in self.space)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, self.t, self.components, *self.grid)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key: tuple[int, slice]) -> np.ndarray:
        """`view[i, t0:t1] -> (T', C, *space)` float32, reading only that window."""
        i, time = key
        parts = []
        for src in self.sources:
            index = []
            for a in self.letters:
                index.append(i if a == "n" else time if a == "t" else slice(None))
            block = np.asarray(src[tuple(index)])
            kept = [a for a in self.letters if a != "n"]
            if "t" not in kept:  # constant in time: broadcast
                t_len = len(range(*time.indices(self.t)))
                block = np.broadcast_to(block[None], (t_len, *block.shape))
                kept = ["t", *kept]
            c_axes = [k for k, a in enumerate(kept) if a == "c"]
            order = [kept.index("t"), *c_axes, *(kept.index(a) for a in self.space)]
            block = block.transpose(order)
            block = block.reshape(block.shape[0], -1, *block.shape[1 + len(c_axes):])
            parts.append(block)
        out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return np.ascontiguousarray(out, dtype=np.float32)


#: Reads in flight at once when a dataset is remote (`map_reads`).
REMOTE_READ_THREADS = 16
_POOLS: dict[int, ThreadPoolExecutor] = {}


def map_reads(read: Callable[[Any], Any], items: Iterable[Any], concurrent: bool) -> list[Any]:
    """`[read(x) for x in items]`, from a thread pool when `concurrent` (remote data: the requests of
    different reads then overlap instead of waiting for each other's round trips). Reads must not
    themselves call `map_reads` (the pool would wait on itself)."""
    items = list(items)
    if not concurrent or len(items) < 2:
        return [read(x) for x in items]
    pool = _POOLS.get(os.getpid())  # one pool per process: a DataLoader worker makes its own
    if pool is None:
        pool = _POOLS[os.getpid()] = ThreadPoolExecutor(REMOTE_READ_THREADS, thread_name_prefix="pde_data-read")
    return list(pool.map(read, items))


class PDEDataset:
    """Trajectories of a multi-field PDE, read lazily.

    `len(ds)` trajectories; `ds[i]` or `ds.trajectory(i)` reads one trajectory,
    `ds[i, t0:t1]` a time window, as `{field: (T', C_f, *space) float32}`;
    `ds.frames(i, t0:t1)` gives the canonical `(T', F, C, D, H, W)` with its
    `mask (F, C)`.

    `reopen` (optional) is a picklable zero-argument callable that opens the
    same dataset again; it is used when the dataset is sent to a DataLoader
    worker, because open h5py files cannot be pickled. `remote`: reads go
    over the network (`pde_data.remote`), so `WindowDataset` reads the windows
    of a batch concurrently.
    """

    def __init__(self, spec: DatasetSpec, fields: Mapping[str, Any],
                 reopen: Optional[Callable[[], "PDEDataset"]] = None, remote: bool = False) -> None:
        self.spec = spec
        self.fields = dict(fields)
        self._reopen = reopen
        self.remote = remote
        where = spec.source or spec.name
        if list(self.fields) != spec.field_names:
            raise DataError(f"{where}: arrays for fields {list(self.fields)} but the spec lists "
                            f"{spec.field_names}")
        for fs in spec.fields:
            shape = tuple(self.fields[fs.name].shape)
            want = (spec.n_trajectories, spec.n_steps, fs.components, *spec.grid_shape)
            if shape != want:
                raise DataError(
                    f"{where}: field {fs.name!r} has shape {shape}, expected (N, T, C, *space) = {want}; "
                    "all fields must share N, T and the grid"
                )

    def __len__(self) -> int:
        return self.spec.n_trajectories

    def __repr__(self) -> str:
        s = self.spec
        fields = ", ".join(f"{f.name}[{f.components}]" for f in s.fields)
        return (f"PDEDataset({s.name!r}, N={s.n_trajectories}, T={s.n_steps}, "
                f"grid={s.grid_shape}, fields=({fields}))")

    def __getitem__(self, key: int | tuple[int, slice]) -> dict[str, np.ndarray]:
        if isinstance(key, tuple):
            i, time = key
        else:
            i, time = key, slice(None)
        return self.read(i, time)

    def trajectory(self, i: int) -> dict[str, np.ndarray]:
        """`{field: (T, C_f, *space) float32}`: every frame of trajectory `i`."""
        return self.read(i, slice(None))

    def read(self, i: int, time: slice = slice(None)) -> dict[str, np.ndarray]:
        """`{field: (T', C_f, *space) float32}` for trajectory `i`, frames `time`."""
        n = len(self)
        if not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise DataError(f"{self.spec.source or self.spec.name}: trajectory index {i!r} out of range "
                            f"for {n} trajectories")
        if not isinstance(time, slice):
            raise DataError(f"time must be a slice, got {type(time).__name__}")
        i = int(i) % n
        out = {}
        for name, arr in self.fields.items():
            try:
                out[name] = np.asarray(arr[i, time], dtype=np.float32)
            except (OSError, RuntimeError, ValueError) as err:
                if isinstance(err, DataError):
                    raise
                raise DataError(f"{self.spec.source or self.spec.name}: reading field {name!r} of trajectory "
                                f"{i} failed ({type(err).__name__}: {err}); the file may be corrupt or "
                                "truncated: convert or download it again") from err
        return out

    def frames(self, i: int, time: slice = slice(None),
               n_components: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """Canonical frames `(T', F, C, D, H, W)` (components zero-padded to C) and `mask (F, C)`."""
        c_max = max(self.spec.components)
        n_components = c_max if n_components is None else n_components
        if n_components < c_max:
            raise DataError(f"n_components={n_components} but field components reach {c_max}")
        data = self.read(i, time)
        t_len = next(iter(data.values())).shape[0]
        out = np.zeros((t_len, len(data), n_components, *self.spec.grid_shape), dtype=np.float32)
        for f, arr in enumerate(data.values()):
            out[:, f, : arr.shape[1]] = arr
        mask = component_mask(self.spec.components, len(data), n_components).numpy()
        return to_canonical_space(out, self.spec.n_spatial_dims), mask

    def to_memory(self) -> "PDEDataset":
        """A copy with every field read into memory (for small datasets read many times)."""
        trajectories = map_reads(self.read, range(len(self)), concurrent=self.remote)
        arrays = {name: np.stack([traj[name] for traj in trajectories]) for name in self.fields}
        return PDEDataset(self.spec, arrays)

    # --- pickling for DataLoader workers -------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        if self._reopen is None:
            return self.__dict__
        return {"spec": self.spec, "_reopen": self._reopen}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "fields" in state:
            self.__dict__.update(state)
            return
        fresh = state["_reopen"]()
        self.__dict__.update(fresh.__dict__)
        self.spec = state["spec"]


class StatsAccumulator:
    """Streaming per-field statistics over `(T, C, *space)` blocks, in float64."""

    def __init__(self, where: str = "", check_finite: bool = True) -> None:
        self.where = where
        self.check_finite = check_finite
        self._acc: dict[str, list[Any]] = {}

    def update(self, name: str, block: np.ndarray, traj: int = 0) -> None:
        a = block.astype(np.float64)
        if self.check_finite and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise DataError(
                f"{self.where}: field {name!r} has NaN/Inf in trajectory {traj} (first at time "
                f"index {bad[0]}); clean the data or drop that trajectory"
            )
        sum_axes = (0, *range(2, a.ndim))
        st = self._acc.setdefault(name, [0, 0.0, 0.0, np.inf, -np.inf])
        st[0] += a.size // a.shape[1]
        st[1] = st[1] + a.sum(axis=sum_axes)
        st[2] = st[2] + (a**2).sum(axis=sum_axes)
        st[3] = min(st[3], float(a.min()))
        st[4] = max(st[4], float(a.max()))

    def result(self) -> dict[str, FieldStats]:
        stats = {}
        for name, (count, s1, s2, lo, hi) in self._acc.items():
            mean = s1 / count
            # summed over components: the mean squared magnitude of (v - mean)
            var = np.maximum(s2 / count - mean**2, 0.0).sum()
            stats[name] = FieldStats(mean=tuple(float(m) for m in mean), std=float(np.sqrt(var)),
                                     min=lo, max=hi)
        return stats


def compute_stats(dataset: PDEDataset, max_trajectories: Optional[int] = None,
                  check_finite: bool = True) -> dict[str, FieldStats]:
    """Per-field mean (per component), std (magnitude-based), min, max.

    Streams over trajectories in float64. With `check_finite` a NaN or Inf
    raises a `DataError` naming the field and the trajectory.
    """
    n = len(dataset) if max_trajectories is None else min(len(dataset), max_trajectories)
    acc = StatsAccumulator(dataset.spec.source or dataset.spec.name, check_finite)
    for i in range(n):
        for name, arr in dataset.read(i).items():
            acc.update(name, arr, traj=i)
    return acc.result()
