"""Small pieces the format readers share: opening HDF5 files with our errors,
grid spacing and dt from coordinates, JSON-safe attributes, a first-frame
NaN/Inf check, and array-likes that re-index stored arrays lazily.

Every array-like here has `.shape` and supports basic indexing with ints and
slices, so `LazyField` can use it as a source.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.remote import fetch, is_url, redact, remote_config
from pde_data.remote_file import RemoteFile, local_copy

logger = logging.getLogger(__name__)

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def remote_signature(url: str, remote: Any = None) -> bytes:
    """The first 8 bytes of the file at `url` (what tells HDF5 apart), fresh from the server (or from
    its whole local copy, behind a server that ignores byte ranges: `pde_data.remote_file.local_copy`)."""
    config = remote_config(remote)
    copy = local_copy(url, config)
    if copy is not None:
        with open(copy, "rb") as f:
            return f.read(8)
    return fetch([url], config, ranges=[(0, 8)], use_cache=False)[0]


def open_h5(path: str, remote: Any = None) -> Any:
    """`h5py.File(path, "r")`, with a `DataError` naming the file on failure.

    A URL is read through a `pde_data.remote_file.RemoteFile` (blocks, cache and retries per `remote`).
    """
    import h5py

    if is_url(path):
        source: Any = RemoteFile(path, remote_config(remote))
        where = redact(path)
    else:
        source, where = path, path
    try:
        return h5py.File(source, "r")
    except DataError:
        raise
    except (OSError, ValueError) as err:
        cause = err.__cause__ or err.__context__
        if isinstance(cause, DataError):  # a failed read of the remote file, raised inside h5py
            raise cause from err
        raise DataError(f"{where}: cannot be opened as HDF5 ({err}); check the path and that "
                        f"the file is complete (not still downloading); the formats read: {FORMATS_PAGE}") from err


def is_hdf5(path: str, remote: Any = None) -> bool:
    """True for an HDF5 file (by suffix and signature). A URL costs one small range read; a failed
    request is a `DataError` (404, refused, a server that ignores ranges), not "not HDF5"."""
    import h5py

    if not path.lower().endswith(HDF5_SUFFIXES):
        return False
    if is_url(path):
        return remote_signature(path, remote) == HDF5_SIGNATURE
    if not os.path.isfile(path):
        return False
    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False


def checked_coordinate(values: Any, sizes: Sequence[int], what: str, axis: str, time: bool = False) -> np.ndarray:
    """The 1-D coordinate `values` checked against the axis it labels, cut to the axis: it must have as many
    entries as one of `sizes` (the first is the axis length; PDEBench's time coordinates hold one more), be
    finite and strictly monotonic (increasing, for `time`). `what` names the file and the dataset, `axis` the
    axis in words (e.g. "the 30 frames of `tensor`"); a `DataError` says which check failed."""
    c = np.asarray(values, dtype=np.float64).reshape(-1)
    if c.size not in sizes:
        raise DataError(f"{what} has {c.size} entries for {axis}; it needs {' or '.join(map(str, sizes))}: fix "
                        f"the coordinate or the data (layouts: {FORMATS_PAGE})")
    c = c[: sizes[0]]
    if not np.isfinite(c).all():
        raise DataError(f"{what} has NaN/Inf entries (at index {int(np.argmin(np.isfinite(c)))}); fix the coordinate")
    steps = np.diff(c)
    if not ((steps > 0).all() or (not time and (steps < 0).all())):
        k = int(np.argmax(steps <= 0)) if time or steps[0] > 0 else int(np.argmax(steps >= 0))
        order = "increasing" if time else "monotonic"
        raise DataError(f"{what} is not strictly {order} (entries {k} and {k + 1}: {c[k]:g}, {c[k + 1]:g}) over "
                        f"{axis}; the frames must be in {'time' if time else 'grid'} order")
    return c


def uniform_step(coord: Any, what: str) -> Optional[float]:
    """The step of an evenly spaced 1-D coordinate, or None (logged) if it is
    not evenly spaced or has fewer than 2 entries."""
    c = np.asarray(coord, dtype=np.float64).reshape(-1)
    if c.size < 2:
        return None
    steps = np.diff(c)
    step = float(steps.mean())
    if not np.all(np.isfinite(steps)) or step == 0 or not np.allclose(steps, step, rtol=1e-3, atol=0):
        logger.info("%s is not evenly spaced; leaving it out of the spec", what)
        return None
    return step


def spacing_of(coords: Sequence[Any], what: str) -> Optional[tuple[float, ...]]:
    """Grid spacing per axis from 1-D coordinates; None unless every axis has one."""
    steps = [uniform_step(c, f"{what} axis {k}") if c is not None else None
             for k, c in enumerate(coords)]
    return None if any(s is None for s in steps) else tuple(float(s) for s in steps)


def coordinates_of(axes: Sequence[str], coords: Sequence[Any], time: Any = None) -> dict[str, tuple[float, ...]]:
    """`DatasetSpec.coordinates` of checked 1-D coordinates: by axis name where there is one, and "time"."""
    out = {a: tuple(float(v) for v in c) for a, c in zip(axes, coords) if c is not None}
    if time is not None and len(time):
        out["time"] = tuple(float(v) for v in time)
    return out


def json_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """File attributes as JSON-serialisable values (numbers, strings, lists);
    bytes are decoded, anything else is left out."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        v = _jsonable(value)
        if v is not None:
            out[str(key)] = v
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _jsonable(value.item())
    if isinstance(value, (np.ndarray, list, tuple)) and np.size(value) <= 64:
        items = [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
        return items if all(v is not None for v in items) else None
    return None


def as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def str_list(value: Any) -> list[str]:
    """An HDF5 attribute holding one string or a list of strings, as a list."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [as_str(value)]
    return [as_str(v) for v in np.asarray(value).reshape(-1)]


def check_first_frame(dataset: PDEDataset) -> PDEDataset:
    """Raise a `DataError` if the first frame of trajectory 0 has NaN/Inf.

    A cheap check on open; `compute_stats` checks every value at convert.
    """
    frame = dataset.read(0, slice(0, 1))
    for name, arr in frame.items():
        if not np.isfinite(arr).all():
            raise DataError(f"{dataset.spec.source}: field {name!r} has NaN/Inf in the first frame "
                            "of trajectory 0; clean the data or drop those trajectories")
    return dataset


def field_groups(fields: Any, n_channels: int, where: str) -> list[tuple[str, int]]:
    """Resolve a user's `fields=` option into `[(name, components)]` covering
    `n_channels` consecutive channels.

    Accepts a dict `{"velocity": 2, "pressure": 1}` or a list of names (one
    channel each).
    """
    if isinstance(fields, Mapping):
        groups = [(str(k), v) for k, v in fields.items()]
    elif isinstance(fields, (list, tuple)):
        groups = [(str(k), 1) for k in fields]
    else:
        raise DataError(f"{where}: fields={fields!r} must be a dict name -> components "
                        "(e.g. {'velocity': 2, 'pressure': 1}) or a list of names")
    for name, c in groups:
        if not isinstance(c, (int, np.integer)) or c < 1:
            raise DataError(f"{where}: fields[{name!r}] = {c!r}; give a positive number of components")
    total = sum(int(c) for _, c in groups)
    if total != n_channels:
        raise DataError(f"{where}: fields={fields!r} cover {total} channels but the data has "
                        f"{n_channels}; make the component counts add up to {n_channels}")
    return [(n, int(c)) for n, c in groups]


class AxisView:
    """A lazy view of `source` with axis `axis` indexed by `sel` (an int drops
    the axis, a slice shortens it), e.g. channels 0:2 of a `(N, T, X, C)` array."""

    def __init__(self, source: Any, axis: int, sel: int | slice) -> None:
        self.source, self.axis, self.sel = source, axis, sel
        shape = list(source.shape)
        if isinstance(sel, slice):
            shape[axis] = len(range(*sel.indices(shape[axis])))
        else:
            del shape[axis]
        self.shape = tuple(shape)

    def __getitem__(self, key: tuple) -> np.ndarray:
        key = tuple(key) + (slice(None),) * (len(self.shape) - len(key))
        if isinstance(self.sel, slice):
            outer = range(*self.sel.indices(self.source.shape[self.axis]))
            inner = outer[key[self.axis]]
            if isinstance(inner, range):
                inner = slice(inner.start, inner.stop if inner.stop >= 0 else None, inner.step)
            src_key = (*key[: self.axis], inner, *key[self.axis + 1:])
        else:
            src_key = (*key[: self.axis], self.sel, *key[self.axis:])
        return np.asarray(self.source[src_key])


class Stack:
    """Same-shape arrays stacked lazily along a new leading axis: `(K, *shape)`.
    Indexing needs an int first (one array is read)."""

    def __init__(self, arrays: Sequence[Any], where: str) -> None:
        self.arrays = list(arrays)
        shapes = {tuple(a.shape) for a in self.arrays}
        if len(shapes) != 1:
            raise DataError(f"{where}: arrays differ in shape {sorted(shapes)}; all samples must "
                            "share time steps, grid and channels")
        self.shape = (len(self.arrays), *shapes.pop())

    def __getitem__(self, key: tuple) -> np.ndarray:
        i, *rest = key
        if not isinstance(i, (int, np.integer)):
            raise TypeError("Stack is indexed one sample at a time")
        return np.asarray(self.arrays[int(i)][tuple(rest)])


class ConcatN:
    """`(N, T, C, *space)` fields concatenated along N lazily (e.g. one per file)."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [p.shape[0] for p in self.parts])
        self.shape = (int(self.offsets[-1]), *tuple(self.parts[0].shape)[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key: tuple) -> np.ndarray:
        i, *rest = key
        k = int(np.searchsorted(self.offsets, int(i), side="right") - 1)
        return np.asarray(self.parts[k][(int(i) - int(self.offsets[k]), *rest)])


class RemoteChunks:
    """Reads of one chunked, unfiltered HDF5 dataset of a remote file, around h5py's data path.

    h5py reads a selection chunk after chunk under its global lock, each chunk a request
    of its own. For an HDF5 file behind a URL this reader asks h5py only where the chunks
    of a selection lie (`get_chunk_info_by_coord`, from the chunk index: small metadata,
    read once into memory), then gets all of them at once through `pde_data.remote.fetch`
    (concurrent requests, the cache, the retries) and copies the selection out, so the
    fields and windows of a batch stream side by side. Chunks that lie next to each other in
    the file (the frames of a trajectory, as writers usually lay them out) are one range
    request. Indexing with ints and unit-step slices (what `LazyField` does); anything else
    goes to h5py.
    """

    #: Chunks at most this many bytes apart are fetched in one range request (the gap is read too).
    MERGE_GAP = 4096

    def __init__(self, dataset: Any, url: str, config: Any, tag: str) -> None:
        self.dataset, self.url, self.config, self.tag = dataset, url, config, tag
        self.shape, self.dtype, self.ndim = tuple(dataset.shape), dataset.dtype, dataset.ndim
        self.chunks = tuple(dataset.chunks)
        self._places: dict[tuple[int, ...], Optional[tuple[int, int]]] = {}
        fill = dataset.fillvalue
        self.fill = np.zeros((), dataset.dtype) if fill is None else np.asarray(fill, dataset.dtype)

    def _place(self, corner: tuple[int, ...]) -> Optional[tuple[int, int]]:
        """`(byte offset, size)` of the chunk at `corner` (None: never written), from the chunk index
        once, then from memory (a chunk does not move in a file that is only read)."""
        if corner not in self._places:
            info = self.dataset.id.get_chunk_info_by_coord(corner)
            self._places[corner] = None if info.byte_offset is None else (int(info.byte_offset), int(info.size))
        return self._places[corner]

    @classmethod
    def suitable(cls, dataset: Any) -> bool:
        import h5py

        return (isinstance(dataset, h5py.Dataset) and dataset.chunks is not None
                and dataset.id.get_create_plist().get_nfilters() == 0
                and dataset.dtype.kind in "fiu" and dataset.dtype.isnative)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        if len(key) != self.ndim or not all(isinstance(k, (int, np.integer)) or
                                            (isinstance(k, slice) and k.step in (None, 1)) for k in key):
            return np.asarray(self.dataset[key])
        bounds = []
        for k, n in zip(key, self.shape):
            if isinstance(k, slice):
                start, stop, _ = k.indices(n)
                bounds.append((start, max(start, stop)))
            else:
                k = int(k) + (n if k < 0 else 0)
                if not 0 <= k < n:
                    raise IndexError(f"index {k} out of range for an axis of {n}")
                bounds.append((k, k + 1))
        out = np.empty(tuple(hi - lo for lo, hi in bounds), self.dtype)
        if out.size == 0:
            return out[tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key)]
        grids = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(bounds, self.chunks)]
        corners = [tuple(i * c for i, c in zip(index, self.chunks)) for index in itertools.product(*grids)]
        stored = sorted((place[0], place[1], corner) for corner in corners
                        if (place := self._place(corner)) is not None)
        runs: list[list[int]] = []  # [start, end) byte ranges: chunks next to each other in the file, merged
        for offset, size, _ in stored:
            if runs and offset - runs[-1][1] <= self.MERGE_GAP:
                runs[-1][1] = max(runs[-1][1], offset + size)
            else:
                runs.append([offset, offset + size])
        data = fetch([self.url] * len(runs), self.config, [tuple(r) for r in runs], tag=self.tag)
        chunk_bytes = int(np.prod(self.chunks)) * self.dtype.itemsize
        blocks, k = {}, 0
        for offset, size, corner in stored:
            while offset >= runs[k][1]:
                k += 1
            blocks[corner] = data[k][offset - runs[k][0]:offset - runs[k][0] + size]
        for corner in corners:
            raw = blocks.get(corner)
            if raw is not None and len(raw) != chunk_bytes:
                raise DataError(f"{redact(self.url)}: chunk at {corner} of {self.dataset.name} has {len(raw)} bytes, "
                                f"expected {chunk_bytes}; the file is damaged")
            chunk = (np.frombuffer(raw, self.dtype).reshape(self.chunks) if raw is not None
                     else np.broadcast_to(self.fill, self.chunks))
            src, dst = [], []
            for (lo, hi), c0, c in zip(bounds, corner, self.chunks):
                a, b = max(lo, c0), min(hi, c0 + c)
                src.append(slice(a - c0, b - c0))
                dst.append(slice(a - lo, b - lo))
            out[tuple(dst)] = chunk[tuple(src)]
        return out[tuple(0 if isinstance(k, (int, np.integer)) else slice(None) for k in key)]


def stream_chunks(arrays: Mapping[str, Any], url: str, remote: Any) -> None:
    """Give the `LazyField`s of `arrays` (read from the HDF5 file at `url`) `RemoteChunks` readers
    for their chunked, unfiltered sources; a local path, or a URL read from its whole local copy
    (`pde_data.remote_file.local_copy`), changes nothing."""
    config = remote_config(remote)
    if not is_url(url) or local_copy(url, config) is not None:
        return
    from pde_data.remote import object_info

    _, tag = object_info(url, config)
    for field in arrays.values():
        lazy = field if isinstance(field, LazyField) else getattr(field, "field", None)
        if isinstance(lazy, LazyField):
            lazy.sources = [RemoteChunks(s, url, config, tag) if RemoteChunks.suitable(s) else s
                            for s in lazy.sources]
