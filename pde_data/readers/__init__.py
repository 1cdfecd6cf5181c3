"""Readers: one module per storage format, found automatically.

`open(path, format="auto", **options)` asks each reader whether it recognises
the path (by extension and content) and opens it lazily as a `PDEDataset`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pde_data import store as _store
from pde_data.dataset import PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import READERS, Reader, register
from pde_data.remote import check_url, is_url, local_path, redact, remote_config

__all__ = ["READERS", "Reader", "convert", "open", "register"]

logger = logging.getLogger(__name__)


def open(path: str | os.PathLike | Any, format: str = "auto", remote: Any = None,  # noqa: A001
         boundary_conditions: Any = None, **options: Any) -> PDEDataset:
    """Open `path` (a file, directory, fsspec URL or `xarray.Dataset`) lazily as a `PDEDataset`.

    `format` is a reader name (see `READERS`) or "auto". `options` go to the
    reader (e.g. `layout="N T X Y"` for arrays, `dims=...` for netCDF; docs/formats.md lists them),
    checked against those it takes. For a
    URL (`https://`, `s3://`, ...: see `pde_data.remote`), `remote` is a
    `RemoteConfig` or a mapping of its fields, e.g. `{"cache_dir": "~/.cache/x"}`.
    `boundary_conditions` states the data's boundaries, whatever the reader (`DatasetSpec.set_boundaries`:
    `"wall"`, `"x=wall"`, a list, or `{"x": "wall"}`); those the source does not say and that are not
    stated (assumed or unknown: `DatasetSpec.boundary_note`) are logged as a warning.
    """
    dataset = _open(path, format, remote, options)
    if boundary_conditions is not None:
        dataset.spec.set_boundaries(boundary_conditions)
    note = dataset.spec.boundary_note(redact(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None)
    if note:
        logger.warning(note)
    return dataset


def _open(path: str | os.PathLike | Any, format: str, remote: Any, options: dict[str, Any]) -> PDEDataset:
    if type(path).__module__.startswith("xarray"):  # an xarray.Dataset already in memory
        from pde_data.readers.netcdf import from_xarray

        READERS["xarray_zarr"].check_options(options, "xarray dataset")  # from_xarray's options, no engine
        return from_xarray(path, **options)
    path = local_path(os.fspath(path))
    if is_url(path):
        return _open_url(path, format, remote_config(remote), options)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory")
    if format == "auto":
        for reader in READERS.values():
            if reader.sniff(path):
                return _read(reader, path, options)
        raise DataError(
            f"{path}: format not recognised; name one with format=... "
            f"(one of: {', '.join(READERS)}; their layouts: {FORMATS_PAGE})"
        )
    if format not in READERS:
        raise DataError(f"unknown format {format!r} for {path}; available: {', '.join(READERS)}")
    return _read(READERS[format], path, options)


def _read(reader: Reader, path: str, options: dict[str, Any], **remote: Any) -> PDEDataset:
    """`reader.open(path, **options)` once the options are checked against those it takes."""
    reader.check_options(options, redact(path))
    return reader.open(path, **remote, **options)


def _open_url(url: str, format: str, remote: Any, options: dict[str, Any]) -> PDEDataset:
    check_url(url)
    remote_readers = [name for name, reader in READERS.items() if reader.remote]
    if format == "auto":
        for name in remote_readers:  # a sniff that cannot reach the URL raises what failed
            if READERS[name].sniff(url, remote=remote):
                return _read(READERS[name], url, options, remote=remote)
        raise DataError(f"{redact(url)}: format not recognised (a store ends in .zarr, HDF5 files in .h5/.hdf5, "
                        f"netCDF in .nc); name one with format=... (in a training config the "
                        f"dataset's format: key; over URLs: {', '.join(remote_readers)}; their layouts: "
                        f"{FORMATS_PAGE})")
    if format not in READERS:
        raise DataError(f"unknown format {format!r} for {redact(url)}; available: {', '.join(READERS)}")
    if not READERS[format].remote:
        raise DataError(f"{redact(url)}: the {format} reader reads local files only (over URLs: "
                        f"{', '.join(remote_readers)}); download the file and open the local copy")
    return _read(READERS[format], url, options, remote=remote)


def convert(src: str | os.PathLike | PDEDataset, out: str | os.PathLike, format: str = "auto",
            overwrite: bool = False, progress: bool = True, **options: Any) -> PDEDataset:
    """Open `src` (a path in any supported format, or a `PDEDataset`) and write it as a canonical
    store at `out` (`pde_data.store.write_store`, atomically). Returns the opened store."""
    dataset = src if isinstance(src, PDEDataset) else open(src, format=format, **options)
    return _store.write_store(dataset, out, overwrite=overwrite, progress=progress)


# Auto-detection tries the readers in this order: the canonical store first,
# then each format module (each registers itself on import).
register(Reader("store", "canonical morph-pde zarr v3 store (pde_data.convert)",
                _store.is_store, _store.open_store, remote=True, options=()))

from pde_data.readers import the_well, pdebench, pdearena, netcdf, xarray_zarr, arrays  # noqa: E402,F401
