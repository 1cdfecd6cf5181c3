"""The canonical store: one zarr v3 group per dataset.

Layout of `out.zarr`:
    zarr.json                 group attributes: {"morph_pde_spec": <DatasetSpec dict>, "morph_pde_store": 1}
    fields/<name>             float32 (N, T, C_f, *space), chunked (1, t_chunk, C_f, *space), compressed

`convert(src, out)` writes it atomically: the group is built in a hidden
sibling directory and renamed into place only when complete, so an
interrupted convert never leaves anything at `out` that looks like a store.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Optional

import numpy as np
import zarr
from tqdm.auto import tqdm
from zarr.codecs import BloscCodec

from pde_data.dataset import PDEDataset, StatsAccumulator
from pde_data.errors import DataError
from pde_data.spec import DatasetSpec

__all__ = ["convert", "is_store", "open_store", "write_store"]

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
        fields = {f.name: group["fields"][f.name] for f in spec.fields}
    except (KeyError, FileNotFoundError) as err:
        raise DataError(f"{path}: not a complete morph-pde store ({err}); convert the source again") from err
    spec.source = spec.source or str(path)
    return PDEDataset(spec, fields, reopen=functools.partial(open_store, path))


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
    tmp = parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    spec = dataset.spec
    try:
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
        for i in tqdm(range(len(dataset)), desc=f"convert {spec.name}", unit="traj",
                      disable=not progress):
            for name, block in dataset.read(i).items():
                stats.update(name, block, traj=i)
                arrays[name][i] = block
        stored = DatasetSpec.from_dict(spec.to_dict())
        stored.stats = stats.result()
        group.attrs.update({SPEC_KEY: stored.to_dict(), "morph_pde_store": STORE_VERSION})
        if out.exists():
            trash = parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s (%d trajectories)", out, len(dataset))
    return open_store(str(out))


def convert(src: str | os.PathLike | PDEDataset, out: str | os.PathLike, format: str = "auto",
            overwrite: bool = False, progress: bool = True, **options: Any) -> PDEDataset:
    """Open `src` (a path in any supported format, or a `PDEDataset`) and write
    it as a canonical store at `out`. Returns the opened store."""
    if isinstance(src, PDEDataset):
        dataset = src
    else:
        from pde_data.readers import open as open_any

        dataset = open_any(src, format=format, **options)
    return write_store(dataset, out, overwrite=overwrite, progress=progress)


