"""Zarr stores written by xarray (`Dataset.to_zarr`), read through the netCDF reader's dim rules
(for users: docs/formats.md).

Climate and ocean data often live in such stores: a zarr group (format 2 or 3, consolidated
or not) whose arrays name their dims, `_ARRAY_DIMENSIONS` in a v2 array's attributes and
`dimension_names` in a v3 array's metadata, e.g. `u (member, time, x)` or
`h (sample, t, y, x)`. `open_xarray_zarr` opens one with xarray and hands it to
`pde_data.readers.netcdf.from_xarray`: which dims are sample/time/space, which variables are
fields and the options (`time_dim=`, `dims=`, `fields=`, ...) are the netCDF reader's. Fields
come in variable-name order (zarr keeps none).

Detection only reads metadata (`zarr.json`, `.zmetadata`, `.zgroup`, `.zattrs`) and tells
three kinds of zarr apart: the canonical store (`morph_pde_spec` attribute, `pde_data.store`),
an xarray store (every array names its dims), and a plain zarr of unnamed arrays (read with
the `arrays` reader and a `layout=` string; anything else is a `DataError` saying which).
Over a URL the store is read through `pde_data.remote.fetch` (retries, cache), from its
consolidated metadata (a server cannot be asked to list a directory).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Optional

from zarr.abc.store import OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest

from pde_data.dataset import PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.netcdf import XARRAY_OPTIONS, from_xarray
from pde_data.readers.registry import Reader, register
from pde_data.remote import RemoteConfig, fetch, is_url, local_path, redact, remote_config
from pde_data.store import SPEC_KEY

__all__ = ["ZarrLayout", "open_xarray_zarr", "sniff", "zarr_layout"]

_METADATA = ("zarr.json", ".zmetadata", ".zgroup", ".zattrs", ".zarray")
ACCEPTED = ("zarr layouts read: the canonical morph-pde store (written by pde_data.convert / morph data "
            "convert); a store written by xarray's Dataset.to_zarr (every array names its dims: "
            "_ARRAY_DIMENSIONS in zarr v2, dimension_names in v3); plain zarr arrays with format='arrays' "
            f"and a layout= string such as 'N T X Y' (local paths only); see {FORMATS_PAGE}")


@dataclass
class ZarrLayout:
    """What a zarr's metadata says. `arrays` maps each top-level array to its dim names (None: unnamed);
    None when the arrays could not be listed (a URL without consolidated metadata)."""

    where: str
    zarr_format: int
    node: str  # "group" or "array"
    attrs: dict = field(default_factory=dict)
    arrays: Optional[dict[str, Optional[list[str]]]] = None
    consolidated: bool = False
    tag: str = ""  # a hash of the root metadata: the remote cache's version key

    @property
    def kind(self) -> str:
        """"canonical", "xarray", "plain" (unnamed arrays), "array" (one array, no group),
        "empty" or "unlisted" (arrays unknown)."""
        if self.node == "array":
            return "array"
        if SPEC_KEY in self.attrs:
            return "canonical"
        if self.arrays is None:
            return "unlisted"
        if not self.arrays:
            return "empty"
        return "xarray" if all(d is not None for d in self.arrays.values()) else "plain"

    def problem(self) -> Optional[str]:
        """Why this is not an xarray store, in words (None when it is one)."""
        v = f"a zarr v{self.zarr_format}"
        kind = self.kind
        if kind == "xarray":
            return None
        if kind == "canonical":
            return f"{self.where}: is the canonical morph-pde store; open it with format='store' (or format='auto')"
        if kind == "array":
            return (f"{self.where}: {v} array, not a group: neither a canonical store nor written by xarray; "
                    f"{ACCEPTED}")
        if kind == "empty":
            return f"{self.where}: {v} group with no arrays; {ACCEPTED}"
        if kind == "unlisted":
            return (f"{self.where}: {v} group without consolidated metadata: over a URL its arrays cannot be "
                    "listed; consolidate it (zarr.consolidate_metadata(path), or Dataset.to_zarr(..., "
                    "consolidated=True)) or open a local copy")
        where_dims = "_ARRAY_DIMENSIONS attribute" if self.zarr_format == 2 else "dimension_names"
        unnamed = sorted(k for k, d in (self.arrays or {}).items() if d is None)
        return (f"{self.where}: {v} group of arrays without dim names (no {where_dims} on {unnamed}): neither a "
                f"canonical morph-pde store (no {SPEC_KEY!r} attribute) nor written by xarray; {ACCEPTED}")


def zarr_layout(path: str, remote: Any = None) -> Optional[ZarrLayout]:
    """The `ZarrLayout` of the zarr at `path` (a directory or an fsspec URL), or None if there is no zarr
    metadata there (a URL where nothing answers is a `DataError` from `pde_data.remote`)."""
    path = local_path(os.fspath(path))
    if is_url(path):
        url = path.rstrip("/")
        read = functools.partial(_read_remote, url, remote_config(remote))
        where = redact(url)
    else:
        if not os.path.isdir(path):
            return None
        read = functools.partial(_read_local, path)
        where = path
    root = read("zarr.json")
    if root is not None:
        return _layout_v3(where, root, read, listable=not is_url(path))
    zmeta = read(".zmetadata")
    if zmeta is not None:
        meta = _json(zmeta, where, ".zmetadata").get("metadata", {})
        arrays = {key[: -len("/.zarray")]: _v2_dims(meta.get(key[: -len(".zarray")] + ".zattrs"))
                  for key in meta if key.endswith("/.zarray") and "/" not in key[: -len("/.zarray")]}
        return ZarrLayout(where, 2, "group", dict(meta.get(".zattrs", {})), arrays, True, _tag(zmeta))
    zgroup = read(".zgroup")
    zarray = read(".zarray") if zgroup is None else None
    if zgroup is None and zarray is None:
        if is_url(path):  # nothing there: the 404 of the v3 name, said as such
            fetch([f"{path.rstrip('/')}/zarr.json"], remote_config(remote), use_cache=False)
        return None
    attrs = _json(read(".zattrs") or b"{}", where, ".zattrs")
    if zgroup is None:
        return ZarrLayout(where, 2, "array", attrs)
    arrays = None
    if not is_url(path):
        arrays = {name: _v2_dims(_json(read(f"{name}/.zattrs") or b"{}", where, f"{name}/.zattrs"))
                  for name in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, name, ".zarray"))}
    return ZarrLayout(where, 2, "group", attrs, arrays, False, _tag(zgroup))


def _layout_v3(where: str, root: bytes, read: Any, listable: bool) -> ZarrLayout:
    meta = _json(root, where, "zarr.json")
    attrs = dict(meta.get("attributes") or {})
    if meta.get("node_type") == "array":
        return ZarrLayout(where, 3, "array", attrs)
    consolidated = (meta.get("consolidated_metadata") or {}).get("metadata")
    if consolidated is not None:
        arrays = {k: _v3_dims(m) for k, m in consolidated.items() if "/" not in k and m.get("node_type") == "array"}
        return ZarrLayout(where, 3, "group", attrs, arrays, True, _tag(root))
    if not listable:
        return ZarrLayout(where, 3, "group", attrs, None, False, _tag(root))
    arrays = {}
    for name in sorted(os.listdir(where)):
        child = read(f"{name}/zarr.json")
        if child is not None:
            m = _json(child, where, f"{name}/zarr.json")
            if m.get("node_type") == "array":
                arrays[name] = _v3_dims(m)
    return ZarrLayout(where, 3, "group", attrs, arrays, False, _tag(root))


def _v3_dims(meta: dict) -> Optional[list[str]]:
    names = meta.get("dimension_names")
    return list(names) if names and all(isinstance(n, str) for n in names) else None


def _v2_dims(attrs: Optional[dict]) -> Optional[list[str]]:
    names = (attrs or {}).get("_ARRAY_DIMENSIONS")
    return list(names) if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def _json(raw: bytes, where: str, name: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError as err:
        raise DataError(f"{where}/{name}: not valid JSON ({err}); the zarr store is damaged") from err
    if not isinstance(value, dict):
        raise DataError(f"{where}/{name}: not a JSON object; the zarr store is damaged")
    return value


def _tag(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def _read_local(root: str, key: str) -> Optional[bytes]:
    try:
        with open(os.path.join(root, key), "rb") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _read_remote(url: str, config: RemoteConfig, key: str) -> Optional[bytes]:
    return fetch([f"{url}/{key}"], config, missing_ok=True, use_cache=False)[0]


def sniff(path: str, remote: Any = None) -> bool:
    """Local: a zarr group whose arrays all name their dims. URL (ending in .zarr): any zarr that is not the
    canonical store (`open_xarray_zarr` says what is wrong with one that is not xarray's)."""
    path = local_path(path)
    if is_url(path):
        if not path.rstrip("/").lower().endswith(".zarr"):
            return False
        layout = zarr_layout(path, remote)
        return layout is not None and layout.kind != "canonical"
    if not os.path.isdir(path) or not any(os.path.isfile(os.path.join(path, m)) for m in _METADATA):
        return False
    layout = zarr_layout(path)
    return layout is not None and layout.kind == "xarray"


def open_xarray_zarr(path: str, remote: Any = None, **options: Any) -> PDEDataset:
    """Open a zarr store written by xarray lazily; `options` are `from_xarray`'s (see the netcdf reader).

    `path` is a directory or an fsspec URL; over a URL, `remote` (a `pde_data.remote.RemoteConfig` or a
    mapping of its fields) says how chunks are read (retries, cache), and the store needs consolidated
    metadata.
    """
    import xarray as xr

    path = local_path(os.fspath(path))
    config = remote_config(remote) if is_url(path) else None
    layout = zarr_layout(path, config)
    if layout is None:
        raise DataError(f"{path}: no zarr metadata (zarr.json, .zmetadata or .zgroup) there; check the path. "
                        f"{ACCEPTED}")
    problem = layout.problem()
    if problem:
        raise DataError(problem)
    store: Any = _FetchStore(path.rstrip("/"), config, layout.tag) if config is not None else path
    try:
        ds = xr.open_dataset(store, engine="zarr", chunks=None, cache=False, consolidated=layout.consolidated,
                             zarr_format=layout.zarr_format)
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise DataError(f"{layout.where}: xarray cannot open this zarr store ({type(err).__name__}: {err}); "
                        "check that it opens with xarray.open_zarr") from err
    ds = ds[sorted(ds.data_vars)]  # zarr keeps no variable order (consolidated metadata sorts): name order
    reopen = functools.partial(open_xarray_zarr, path, remote=config, **options)
    dataset = from_xarray(ds, source=path, reopen=reopen, format="xarray_zarr", **options)
    dataset.remote = config is not None
    return dataset


class _FetchStore(Store):
    """A read-only zarr store over one URL whose every read goes through `pde_data.remote.fetch`
    (retries, timeout, the read-through cache keyed by `tag`). Metadata is never cached."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = False

    def __init__(self, url: str, config: RemoteConfig, tag: str) -> None:
        super().__init__(read_only=True)
        self.url, self.config, self.tag = url, config, tag

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FetchStore) and (self.url, self.tag) == (other.url, other.tag)

    def __hash__(self) -> int:
        return hash((self.url, self.tag))

    def _read(self, key: str, byte_range: Any) -> Optional[bytes]:
        metadata = key.rsplit("/", 1)[-1] in _METADATA
        span = [(byte_range.start, byte_range.end)] if isinstance(byte_range, RangeByteRequest) else None
        raw = fetch([f"{self.url}/{key}"], self.config, ranges=span, missing_ok=True, tag=self.tag,
                    use_cache=not metadata)[0]
        if raw is None or byte_range is None or span is not None:
            return raw
        if isinstance(byte_range, OffsetByteRequest):
            return raw[byte_range.offset:]
        if isinstance(byte_range, SuffixByteRequest):
            return raw[-byte_range.suffix:]
        raise TypeError(f"unknown byte range {byte_range!r}")

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        raw = await asyncio.to_thread(self._read, key, byte_range)  # fetch blocks: keep zarr's loop free
        return None if raw is None else prototype.buffer.from_bytes(raw)

    async def get_partial_values(self, prototype: Any, key_ranges: Iterable[tuple[str, Any]]) -> list[Any]:
        return list(await asyncio.gather(*(self.get(k, prototype, r) for k, r in key_ranges)))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._read, key, None) is not None

    async def set(self, key: str, value: Any) -> None:
        raise DataError(f"{redact(self.url)}: opened read-only; write stores locally")

    async def delete(self, key: str) -> None:
        raise DataError(f"{redact(self.url)}: opened read-only; write stores locally")

    def _unlisted(self) -> DataError:
        return DataError(f"{redact(self.url)}: a zarr store over a URL is read from its consolidated metadata "
                         "and cannot be listed; consolidate it (zarr.consolidate_metadata)")

    async def list(self) -> AsyncIterator[str]:
        raise self._unlisted()
        yield ""  # pragma: no cover - makes this an async generator

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        raise self._unlisted()
        yield ""  # pragma: no cover

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        raise self._unlisted()
        yield ""  # pragma: no cover


register(Reader("xarray_zarr", "zarr written by xarray's Dataset.to_zarr (named dims; netcdf's dim rules)",
                sniff, open_xarray_zarr, remote=True, options=XARRAY_OPTIONS))
