"""Readers: one module per storage format, found automatically.

`open(path, format="auto", **options)` asks each reader whether it recognises
the path (by extension and content) and opens it lazily as a `PDEDataset`.
"""

from __future__ import annotations

import os
from typing import Any

from pde_data import store as _store
from pde_data.dataset import PDEDataset
from pde_data.errors import DataError
from pde_data.readers.registry import READERS, Reader, register

__all__ = ["READERS", "Reader", "convert", "open", "register"]


def _is_url(path: str) -> bool:
    return "://" in path


def open(path: str | os.PathLike | Any, format: str = "auto", **options: Any) -> PDEDataset:  # noqa: A001
    """Open `path` (a file, directory, fsspec URL or `xarray.Dataset`) lazily as a `PDEDataset`.

    `format` is a reader name (see `READERS`) or "auto". `options` go to the
    reader (e.g. `layout="N T X Y"` for arrays, `dims=...` for netCDF).
    """
    if type(path).__module__.startswith("xarray"):  # an xarray.Dataset already in memory
        from pde_data.readers.netcdf import from_xarray

        return from_xarray(path, **options)
    path = os.fspath(path)
    if not _is_url(path) and not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory")
    if format == "auto":
        for reader in READERS.values():
            if reader.sniff(path):
                return reader.open(path, **options)
        raise DataError(
            f"{path}: format not recognised; name one with format=... "
            f"(one of: {', '.join(READERS)})"
        )
    if format not in READERS:
        raise DataError(f"unknown format {format!r} for {path}; available: {', '.join(READERS)}")
    return READERS[format].open(path, **options)


def convert(src: str | os.PathLike | PDEDataset, out: str | os.PathLike, format: str = "auto",
            overwrite: bool = False, progress: bool = True, **options: Any) -> PDEDataset:
    """Open `src` (a path in any supported format, or a `PDEDataset`) and write it as a canonical
    store at `out` (`pde_data.store.write_store`, atomically). Returns the opened store."""
    dataset = src if isinstance(src, PDEDataset) else open(src, format=format, **options)
    return _store.write_store(dataset, out, overwrite=overwrite, progress=progress)


# Auto-detection tries the readers in this order: the canonical store first,
# then each format module (each registers itself on import).
register(Reader("store", "canonical morph-pde zarr v3 store (pde_data.convert)",
                _store.is_store, _store.open_store))

from pde_data.readers import the_well, pdebench, pdearena, netcdf, arrays  # noqa: E402,F401
