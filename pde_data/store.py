"""The canonical store: one zarr v3 group per dataset.

Layout of `out.zarr`:
    zarr.json                 group attributes: {"morph_pde_spec": <DatasetSpec dict>, "morph_pde_store": 1}
    fields/<name>             float32 (N, T, C_f, *space), chunked (1, t_chunk, C_f, *space), compressed

`write_store(dataset, out)` (what `pde_data.convert` calls) writes it atomically: the group is built in a hidden
sibling directory and renamed into place only when complete, so an
interrupted convert never leaves anything at `out` that looks like a store.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import zarr
from numcodecs import blosc
from zarr.codecs import BloscCodec, BytesCodec
from zarr.storage import LocalStore

try:  # zarr.core is not zarr's public API: if it moves, ChunkReader steps aside and zarr reads
    from zarr.core.chunk_grids import RegularChunkGrid
    from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding
    from zarr.core.metadata.v3 import ArrayV3Metadata
except ImportError:  # pragma: no cover - depends on the zarr version
    RegularChunkGrid = DefaultChunkKeyEncoding = ArrayV3Metadata = None

from pde_data.dataset import PDEDataset, StatsAccumulator
from pde_data.errors import DataError
from pde_data.files import atomic_directory
from pde_data.progress import progress_bar
from pde_data.remote import RemoteConfig, fetch, is_url, local_path, redact, remote_config
from pde_data.spec import DatasetSpec

__all__ = ["ChunkReader", "is_store", "open_store", "write_store"]

logger = logging.getLogger(__name__)

SPEC_KEY = "morph_pde_spec"
STORE_VERSION = 1
_CHUNK_BYTES = 1 << 18  # aim for ~256 KiB chunks: a few frames of one trajectory, so a window reads little


def is_store(path: str, remote: Any = None) -> bool:
    """True if `path` (a directory or an fsspec URL) is a canonical morph-pde zarr store."""
    path = local_path(path)
    if is_url(path):
        if not path.rstrip("/").lower().endswith(".zarr"):
            return False
        # a failed request is an error (refused, no backend), not "not a store"; a missing zarr.json
        # (a zarr v2 store, or nothing) is left to the readers tried after this one, which say which
        attrs, _ = _remote_group_attrs(path.rstrip("/"), remote_config(remote), missing_ok=True)
        return attrs is not None and SPEC_KEY in attrs
    if not os.path.isfile(os.path.join(path, "zarr.json")):
        return False
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:  # not a zarr group at all: not ours to open
        return False
    return SPEC_KEY in group.attrs


def open_store(path: str, remote: Any = None, **options: Any) -> PDEDataset:
    """Open a canonical store lazily; fields are `(N, T, C_f, *space)` arrays.

    `path` is a directory or an fsspec URL; over a URL, `remote` (a `RemoteConfig` or a mapping of
    its fields) says how to read: chunks come through its cache, all chunks of a window at once.
    """
    if options:
        raise DataError(f"{path}: the canonical store takes no options, got {sorted(options)}")
    path = local_path(path)
    if is_url(path):
        return _open_remote_store(path.rstrip("/"), remote_config(remote))
    try:
        group = zarr.open_group(path, mode="r")
        spec = DatasetSpec.from_dict(group.attrs[SPEC_KEY])
        fields = {f.name: ChunkReader.wrap(group["fields"][f.name]) for f in spec.fields}
    except (KeyError, FileNotFoundError) as err:
        raise DataError(f"{path}: not a complete morph-pde store ({err}); convert the source again") from err
    spec.source = spec.source or str(path)
    return PDEDataset(spec, fields, reopen=functools.partial(open_store, path))


def _remote_group_attrs(url: str, config: RemoteConfig, missing_ok: bool = False) -> tuple[Optional[dict], str]:
    """The group attributes of the store at `url` (None when its zarr.json is not a JSON object, or is not
    there and `missing_ok`) and a version tag of them; never from the cache."""
    raw = fetch([f"{url}/zarr.json"], config, use_cache=False, missing_ok=missing_ok)[0]
    if raw is None:
        return None, ""
    try:
        meta = json.loads(raw)
    except ValueError:
        meta = None
    attrs = meta.get("attributes", {}) if isinstance(meta, dict) else None
    return attrs, hashlib.sha256(raw).hexdigest()[:16]


def _open_remote_store(url: str, config: RemoteConfig) -> PDEDataset:
    attrs, tag = _remote_group_attrs(url, config)
    if attrs is None:
        raise DataError(f"{redact(url)}/zarr.json is not a JSON object; is this a zarr store?")
    if SPEC_KEY not in attrs:
        raise DataError(f"{redact(url)}: a zarr group but not a morph-pde store (no {SPEC_KEY!r} attribute); "
                        "convert the data with pde_data.convert / morph data convert")
    spec = DatasetSpec.from_dict(attrs[SPEC_KEY])
    array_urls = [f"{url}/fields/{f.name}" for f in spec.fields]
    metas = fetch([f"{a}/zarr.json" for a in array_urls], config, tag=tag)
    fields: dict[str, Any] = {}
    for f, array_url, raw in zip(spec.fields, array_urls, metas):
        meta = ArrayV3Metadata.from_dict(json.loads(raw)) if ArrayV3Metadata is not None else None
        if meta is not None and _fast_layout(meta):
            fields[f.name] = ChunkReader.remote(array_url, meta, config, tag)
        else:  # not the layout write_store writes: zarr reads it (without our cache)
            from zarr.storage import FsspecStore

            group = zarr.open_group(FsspecStore.from_url(url, read_only=True), mode="r")
            fields[f.name] = group["fields"][f.name]
    spec.source = spec.source or url
    return PDEDataset(spec, fields, reopen=functools.partial(open_store, url, remote=config), remote=True)


def _fast_layout(meta: Any) -> bool:
    """True for array metadata laid out as `write_store` writes it (what `ChunkReader` decodes)."""
    if RegularChunkGrid is None:
        return False
    codecs = tuple(getattr(meta, "codecs", ()))
    little_endian_bytes = (len(codecs) == 2 and isinstance(codecs[0], BytesCodec)
                           and getattr(codecs[0].endian, "value", codecs[0].endian) in (None, "little"))
    chunks = tuple(meta.chunk_grid.chunk_shape) if isinstance(meta.chunk_grid, RegularChunkGrid) else ()
    return (meta.zarr_format == 3
            and isinstance(meta.chunk_key_encoding, DefaultChunkKeyEncoding)
            and bool(chunks)
            and np.dtype(meta.data_type.to_native_dtype()) == np.float32
            and little_endian_bytes
            and isinstance(codecs[1], BloscCodec)
            and chunks[0] == 1
            and chunks[2:] == tuple(meta.shape[2:]))


class ChunkReader:
    """Window reads `field[i, t0:t1]` of one field of a canonical store, without zarr's read path.

    A window of the canonical store is a few whole chunks (chunks hold whole
    frames of one trajectory). zarr reads them correctly but spends ~1.5 ms of
    asyncio bookkeeping per read (about 8,000 Python calls per 4-field
    window, profiled), 5x the cost of reading the chunk files and decoding
    them. This reader does just that: it finds the chunk objects by the zarr v3
    key encoding, gets all of a window's at once (`read_chunks`: files on a local
    disk, concurrent requests through `pde_data.remote.fetch` for a URL),
    decodes them with Blosc (the codec `write_store` uses) and copies out the
    frames asked for. Missing chunks are the fill value, as in zarr. Any other
    index goes to the zarr array (`self.array`) on a local disk, and is read
    through whole trajectories from a URL.

    `ChunkReader.wrap(array)` returns a reader only for arrays laid out the
    way `write_store` writes them on a local disk; other arrays (another
    codec, ...) come back unchanged and read through zarr.
    """

    def __init__(self, metadata: Any, read_chunks: Callable[[Sequence[str]], list[Optional[bytes]]],
                 array: Optional[zarr.Array] = None) -> None:
        self.array = array
        self.shape = tuple(metadata.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)
        self._metadata = metadata
        self._chunk_shape = tuple(metadata.chunk_grid.chunk_shape)
        self._fill = np.float32(metadata.fill_value)
        self._read_chunks = read_chunks

    @classmethod
    def wrap(cls, array: zarr.Array) -> "ChunkReader | zarr.Array":
        if not (isinstance(array.store, LocalStore) and _fast_layout(array.metadata)):
            return array
        return cls(array.metadata, _LocalChunks(Path(array.store.root) / array.path), array)

    @classmethod
    def remote(cls, url: str, metadata: Any, config: RemoteConfig, tag: str) -> "ChunkReader":
        """A reader of the array at `url` (its chunk objects under it) through `pde_data.remote`."""
        decoded_bytes = 4 * int(np.prod(metadata.chunk_grid.chunk_shape))
        return cls(metadata, _RemoteChunks(url, config, tag, decoded_bytes))

    def _decode(self, key: str, raw: Optional[bytes]) -> np.ndarray:
        """Decoded chunk: `(t_chunk, C, *space)`."""
        if raw is None:  # never written: all fill value, as zarr reads it
            return np.full(self._chunk_shape[1:], self._fill, dtype=np.float32)
        problem = blosc_problem(raw, 4 * int(np.prod(self._chunk_shape)))
        if problem:
            raise ValueError(f"chunk {key} {problem}")
        return np.frombuffer(blosc.decompress(raw), dtype="<f4").reshape(self._chunk_shape[1:])

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], (int, np.integer))
                and isinstance(key[1], slice) and key[1].step in (None, 1)):
            return self.array[key] if self.array is not None else self._any_index(key)
        i, time = key
        n = self.shape[0]
        if not -n <= i < n:
            raise IndexError(f"trajectory {i} out of range for {n}")
        i = int(i) % n
        t0, t1, _ = time.indices(self.shape[1])
        t1 = max(t0, t1)
        out = np.empty((t1 - t0, *self.shape[2:]), dtype=np.float32)
        tc = self._chunk_shape[1]
        touched = range(t0 // tc, -(-t1 // tc) if t1 > t0 else 0)  # the time chunks [t0, t1) touches
        keys = [self._metadata.encode_chunk_key((i, c) + (0,) * (self.ndim - 2)) for c in touched]
        for c, k, raw in zip(touched, keys, self._read_chunks(keys)):
            lo, hi = max(t0, c * tc), min(t1, (c + 1) * tc)
            out[lo - t0:hi - t0] = self._decode(k, raw)[lo - c * tc:hi - c * tc]
        return out

    def _any_index(self, key: Any) -> np.ndarray:
        """Any basic index, read as whole trajectories (remote arrays have no zarr array behind)."""
        key = key if isinstance(key, tuple) else (key,)
        if key and key[0] is Ellipsis:
            key = (slice(None),) + key
        first, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(first, (int, np.integer)):
            return self[int(first), slice(None)][rest]
        trajectories = range(*first.indices(self.shape[0]))
        return np.stack([self[i, slice(None)] for i in trajectories])[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[...], dtype=dtype)


def blosc_problem(raw: bytes, decoded_bytes: int) -> Optional[str]:
    """What is wrong with a Blosc chunk meant to decode to `decoded_bytes` bytes, or None.

    Blosc header: bytes 4-8 the decoded size, 12-16 the encoded size (little-endian uint32).
    Blosc itself decodes a truncated chunk into garbage without a word, so check both first.
    """
    header = np.frombuffer(raw[:16], dtype="<u4") if len(raw) >= 16 else None
    if header is None or int(header[3]) != len(raw) or int(header[1]) != decoded_bytes:
        return f"is truncated or not a Blosc chunk of {decoded_bytes} bytes ({len(raw)} bytes read)"
    return None


class _LocalChunks:
    """Chunk objects read from files under one array's directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, keys: Sequence[str]) -> list[Optional[bytes]]:
        out: list[Optional[bytes]] = []
        for key in keys:
            try:
                out.append((self.root / key).read_bytes())
            except FileNotFoundError:
                out.append(None)
        return out


class _RemoteChunks:
    """Chunk objects fetched (all of one read at once) from under one array's URL."""

    def __init__(self, url: str, config: RemoteConfig, tag: str, decoded_bytes: int) -> None:
        self.url, self.config, self.tag, self.decoded_bytes = url, config, tag, decoded_bytes

    def __call__(self, keys: Sequence[str]) -> list[Optional[bytes]]:
        return fetch([f"{self.url}/{k}" for k in keys], self.config, missing_ok=True, tag=self.tag,
                     check=lambda raw: blosc_problem(raw, self.decoded_bytes))


def _time_chunk(spec: DatasetSpec, components: int) -> int:
    frame_bytes = 4 * components * int(np.prod(spec.grid_shape))
    return int(np.clip(_CHUNK_BYTES // max(frame_bytes, 1), 1, spec.n_steps))


def write_store(dataset: PDEDataset, out: str | os.PathLike, overwrite: bool = False,
                progress: bool = True) -> PDEDataset:
    """Write `dataset` as a canonical store at `out` (atomically) and open it.

    Statistics are computed while writing and saved in the spec; NaN/Inf in
    the source raise a `DataError` and leave nothing at `out`.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise DataError(f"{out} already exists; pass overwrite=True (CLI: --overwrite) or choose another path")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"{out}: parent directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise DataError(f"{out}: directory {parent} is not writable")
    spec = dataset.spec
    with atomic_directory(out) as tmp:
        group = zarr.open_group(str(tmp), mode="w")
        fields_group = group.create_group("fields")
        arrays = {}
        for fs in spec.fields:
            shape = (spec.n_trajectories, spec.n_steps, fs.components, *spec.grid_shape)
            chunks = (1, _time_chunk(spec, fs.components), fs.components, *spec.grid_shape)
            arrays[fs.name] = fields_group.create_array(
                fs.name, shape=shape, chunks=chunks, dtype="float32",
                compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            )
        where = spec.source or spec.name
        stats = StatsAccumulator(where)
        for i in progress_bar(range(len(dataset)), desc=f"convert {spec.name}", unit="traj", enabled=progress):
            for name, block in dataset.read(i).items():
                stats.update(name, block, traj=i)
                arrays[name][i] = block
        stored = DatasetSpec.from_dict(spec.to_dict())
        stored.stats = stats.result()
        group.attrs.update({SPEC_KEY: stored.to_dict(), "morph_pde_store": STORE_VERSION})
    logger.info("wrote %s (%d trajectories)", out, len(dataset))
    return open_store(str(out))
