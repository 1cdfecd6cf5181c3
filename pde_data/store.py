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
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import blosc
from zarr.codecs import BloscCodec, BytesCodec
from zarr.storage import LocalStore

try:  # zarr.core is not zarr's public API: if it moves, ChunkReader steps aside and zarr reads
    from zarr.core.chunk_grids import RegularChunkGrid
    from zarr.core.chunk_key_encodings import DefaultChunkKeyEncoding
except ImportError:  # pragma: no cover - depends on the zarr version
    RegularChunkGrid = DefaultChunkKeyEncoding = None

from pde_data.dataset import PDEDataset, StatsAccumulator
from pde_data.errors import DataError
from pde_data.files import atomic_directory
from pde_data.progress import progress_bar
from pde_data.spec import DatasetSpec

__all__ = ["ChunkReader", "is_store", "open_store", "write_store"]

logger = logging.getLogger(__name__)

SPEC_KEY = "morph_pde_spec"
STORE_VERSION = 1
_CHUNK_BYTES = 1 << 18  # aim for ~256 KiB chunks: a few frames of one trajectory, so a window reads little


def is_store(path: str) -> bool:
    """True if `path` is a canonical morph-pde zarr store."""
    if "://" not in path and not os.path.isfile(os.path.join(path, "zarr.json")):
        return False
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:  # not a zarr group at all: not ours to open
        return False
    return SPEC_KEY in group.attrs


def open_store(path: str, **options: Any) -> PDEDataset:
    """Open a canonical store lazily; fields are zarr arrays `(N, T, C_f, *space)`."""
    if options:
        raise DataError(f"{path}: the canonical store takes no options, got {sorted(options)}")
    try:
        group = zarr.open_group(path, mode="r")
        spec = DatasetSpec.from_dict(group.attrs[SPEC_KEY])
        fields = {f.name: ChunkReader.wrap(group["fields"][f.name]) for f in spec.fields}
    except (KeyError, FileNotFoundError) as err:
        raise DataError(f"{path}: not a complete morph-pde store ({err}); convert the source again") from err
    spec.source = spec.source or str(path)
    return PDEDataset(spec, fields, reopen=functools.partial(open_store, path))


class ChunkReader:
    """Window reads `field[i, t0:t1]` of one field of a local canonical store, without zarr's read path.

    A window of the canonical store is a few whole chunks (chunks hold whole
    frames of one trajectory). zarr reads them correctly but spends ~1.5 ms of
    asyncio bookkeeping per read (about 8,000 Python calls per 4-field
    window, profiled), 5x the cost of reading the chunk files and decoding
    them. This reader does just that: it finds the chunk files by the zarr v3
    key encoding, decodes them with Blosc (the codec `write_store` uses) and
    copies out the frames asked for. Missing chunks are the fill value, as in
    zarr. Any other index goes to the zarr array (`self.array`).

    `ChunkReader.wrap(array)` returns a reader only for arrays laid out the
    way `write_store` writes them on a local disk; other arrays (another
    codec, a remote store, ...) come back unchanged and read through zarr.
    """

    def __init__(self, array: zarr.Array) -> None:
        self.array = array
        self.shape = tuple(array.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)
        self._root = Path(array.store.root) / array.path
        self._metadata = array.metadata
        self._chunk_shape = tuple(array.chunks)
        self._fill = np.float32(array.metadata.fill_value)

    @classmethod
    def wrap(cls, array: zarr.Array) -> "ChunkReader | zarr.Array":
        if RegularChunkGrid is None:
            return array
        meta = array.metadata
        codecs = tuple(getattr(meta, "codecs", ()))
        little_endian_bytes = (len(codecs) == 2 and isinstance(codecs[0], BytesCodec)
                               and getattr(codecs[0].endian, "value", codecs[0].endian) in (None, "little"))
        suitable = (
            meta.zarr_format == 3
            and isinstance(array.store, LocalStore)
            and isinstance(meta.chunk_key_encoding, DefaultChunkKeyEncoding)
            and isinstance(meta.chunk_grid, RegularChunkGrid)
            and array.dtype == np.float32
            and little_endian_bytes
            and isinstance(codecs[1], BloscCodec)
            and array.chunks[0] == 1
            and tuple(array.chunks[2:]) == tuple(array.shape[2:])
        )
        return cls(array) if suitable else array

    def _chunk(self, i: int, c: int) -> np.ndarray:
        """Decoded chunk `c` along time of trajectory `i`: `(t_chunk, C, *space)`."""
        key = self._metadata.encode_chunk_key((i, c) + (0,) * (self.ndim - 2))
        try:
            raw = (self._root / key).read_bytes()
        except FileNotFoundError:  # never written: all fill value, as zarr reads it
            return np.full(self._chunk_shape[1:], self._fill, dtype=np.float32)
        # Blosc header: bytes 4-8 the decoded size, 12-16 the encoded size (little-endian uint32).
        # Blosc itself decodes a truncated chunk into garbage without a word, so check both first.
        want = 4 * int(np.prod(self._chunk_shape))
        header = np.frombuffer(raw[:16], dtype="<u4") if len(raw) >= 16 else None
        if header is None or int(header[3]) != len(raw) or int(header[1]) != want:
            raise ValueError(f"chunk {key} is truncated or not a Blosc chunk of {want} bytes")
        return np.frombuffer(blosc.decompress(raw), dtype="<f4").reshape(self._chunk_shape[1:])

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], (int, np.integer))
                and isinstance(key[1], slice) and key[1].step in (None, 1)):
            return self.array[key]
        i, time = key
        n = self.shape[0]
        if not -n <= i < n:
            raise IndexError(f"trajectory {i} out of range for {n}")
        i = int(i) % n
        t0, t1, _ = time.indices(self.shape[1])
        t1 = max(t0, t1)
        out = np.empty((t1 - t0, *self.shape[2:]), dtype=np.float32)
        tc = self._chunk_shape[1]
        for c in range(t0 // tc, -(-t1 // tc) if t1 > t0 else 0):  # the time chunks [t0, t1) touches
            lo, hi = max(t0, c * tc), min(t1, (c + 1) * tc)
            out[lo - t0:hi - t0] = self._chunk(i, c)[lo - c * tc:hi - c * tc]
        return out

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.array[...], dtype=dtype)


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
