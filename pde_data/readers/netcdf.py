"""netCDF (and anything `xarray.open_dataset` opens), read lazily through xarray (for users: docs/formats.md).

Which dims are what (keywords, or all at once with `dims={"sample": "traj",
"time": "t", "space": ["x", "y"], "channel": "c"}`):

- `sample_dim`: default the first dim named sample(s), traj, trajectory,
  trajectories, batch, n, member or ensemble; none -> N = 1.
- `time_dim`: default `time` or `t` (required).
- `space_dims`: default those of `x`, `y`, `z` present (in that order), else
  `lon`/`lat` (in stored order); grid order follows this list.
- `channel_dim`: a dim that stacks several quantities in one variable, e.g.
  PDEGym's `velocity (N, T, C, X, Y)`; with `channels={"velocity": [0, 1],
  "tracer": [2]}` its entries become fields (`variable=` picks the variable
  when several carry that dim); without, the variable is one field of C
  components.

Which variables are fields: `fields={"velocity": ["u", "v"], "pressure": ["p"]}`
(or a list of names, one scalar each). By default every data variable over
(time, *space) with no other dims except sample/channel, in file order;
variables `u, v[, w]` group into `velocity`, `vx, vy[, vz]` / `v_x, ...` /
`velocity_x, ...` / `Bx, By` into one vector field, when all d components are
there. A variable without the sample or time dim is broadcast along it.
Spacing and dt come from the coordinates of the space and time dims (datetime
time in seconds). `boundary_conditions=` (`DatasetSpec.set_boundaries`: one kind, one per
axis, or AXIS=KIND) sets the spec's boundaries, unknown otherwise. `from_xarray(ds, ...)` opens an
in-memory or already opened `xarray.Dataset` the same way.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import Reader, keyword_names, register
from pde_data.readers._common import (check_first_frame, checked_coordinate, coordinates_of, json_attrs, spacing_of,
                                      uniform_step)
from pde_data.remote import is_url, local_path, redact, remote_config
from pde_data.remote_file import RemoteFile
from pde_data.spec import DatasetSpec, FieldSpec

__all__ = ["XARRAY_OPTIONS", "from_xarray", "open_netcdf", "sniff"]

logger = logging.getLogger(__name__)

_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
_SAMPLE = ("sample", "samples", "traj", "trajectory", "trajectories", "batch", "n", "member", "ensemble")
_TIME = ("time", "t")
_VECTOR_NAMES = {"v": "velocity", "vel": "velocity", "velocity": "velocity", "u": "velocity"}


def sniff(path: str, remote: Any = None) -> bool:
    return (is_url(path) or os.path.isfile(path)) and path.lower().endswith(_SUFFIXES)


def open_netcdf(path: str, engine: Optional[str] = None, remote: Any = None, **options: Any) -> PDEDataset:
    """Open a netCDF file lazily; see the module docstring for `options`.

    `path` may be an fsspec URL of a netCDF-4 (HDF5) file, read in blocks as `remote` (a
    `pde_data.remote.RemoteConfig` or a mapping of its fields) says.
    """
    import h5py
    import xarray as xr

    path = local_path(os.fspath(path))
    if is_url(path):
        return _open_remote(path, engine, remote_config(remote), options)
    if engine is None:
        engine = "h5netcdf" if h5py.is_hdf5(path) else None
    try:
        ds = xr.open_dataset(path, engine=engine, cache=False)
    except (OSError, ValueError, TypeError) as err:
        raise DataError(f"{path}: xarray cannot open it ({err}); check the file, or pass engine=... "
                        f"(the formats read: {FORMATS_PAGE})") from err
    reopen = functools.partial(open_netcdf, path, engine=engine, **options)
    return from_xarray(ds, source=path, reopen=reopen, **options)


def _open_remote(url: str, engine: Optional[str], remote: Any, options: dict[str, Any]) -> PDEDataset:
    import xarray as xr

    from pde_data.readers._common import HDF5_SIGNATURE, remote_signature

    if engine not in (None, "h5netcdf") or remote_signature(url, remote) != HDF5_SIGNATURE:
        raise DataError(f"{redact(url)}: over a URL only netCDF-4 (HDF5) files are read, with the h5netcdf "
                        "engine; download a netCDF-3 file and open the local copy")
    try:
        ds = xr.open_dataset(RemoteFile(url, remote), engine="h5netcdf", cache=False)
    except DataError:
        raise
    except (OSError, ValueError, TypeError) as err:
        raise DataError(f"{redact(url)}: xarray cannot open it ({err}); check the file") from err
    reopen = functools.partial(open_netcdf, url, engine=engine, remote=remote, **options)
    dataset = from_xarray(ds, source=url, reopen=reopen, **options)
    dataset.remote = True
    return dataset


def from_xarray(ds: Any, source: Optional[str] = None, reopen: Any = None, dims: Optional[Mapping] = None,
                sample_dim: Optional[str] = None, time_dim: Optional[str] = None,
                space_dims: Optional[Sequence[str]] = None, channel_dim: Optional[str] = None,
                channels: Optional[Mapping[str, Sequence[int]]] = None, variable: Optional[str] = None,
                fields: Any = None, boundary_conditions: Any = None, name: Optional[str] = None,
                check_finite: bool = True, format: str = "netcdf") -> PDEDataset:  # noqa: A002
    """An `xarray.Dataset` as a lazy `PDEDataset` (values are read per window).

    The one place where dims become trajectory/time/space and variables fields: the netCDF reader
    and the xarray-zarr reader (`pde_data.readers.xarray_zarr`) both open through it; `format`
    is the reader's name, kept in the spec.
    """
    where = source or "xarray dataset"
    dims = dict(dims or {})
    unknown = set(dims) - {"sample", "time", "space", "channel"}
    if unknown:
        raise DataError(f"{where}: dims= has unknown keys {sorted(unknown)}; use sample, time, space, channel")
    sample_dim = sample_dim or dims.get("sample")
    time_dim = time_dim or dims.get("time")
    space_dims = list(space_dims or dims.get("space") or [])
    channel_dim = channel_dim or dims.get("channel")
    all_dims = list(ds.sizes)
    for label, dim in (("sample_dim", sample_dim), ("time_dim", time_dim), ("channel_dim", channel_dim),
                       *(("space_dims", s) for s in space_dims)):
        if dim is not None and dim not in ds.sizes:
            raise DataError(f"{where}: {label}={dim!r} is not a dim of the data; dims are {all_dims}")
    sample_dim = sample_dim or next((d for d in _SAMPLE if d in ds.sizes), None)
    time_dim = time_dim or next((d for d in _TIME if d in ds.sizes), None)
    if time_dim is None:
        raise DataError(f"{where}: no time dim among {all_dims}; pass time_dim=... (dims named time/t "
                        f"are found automatically; {FORMATS_PAGE})")
    if not space_dims:
        space_dims = [d for d in ("x", "y", "z") if d in ds.sizes] or \
                     [d for d in all_dims if d in ("lon", "longitude", "lat", "latitude")]
    if not 1 <= len(space_dims) <= 3:
        raise DataError(f"{where}: space dims {space_dims} of {all_dims}; pass space_dims=[...] "
                        f"naming 1 to 3 spatial dims ({FORMATS_PAGE})")
    letters = dict(zip(space_dims, "xyz"))
    roles = {**letters, time_dim: "t", **({sample_dim: "n"} if sample_dim else {}),
             **({channel_dim: "c"} if channel_dim else {})}

    groups = _select(ds, fields, channels, channel_dim, variable, roles, space_dims, time_dim, where)
    n = int(ds.sizes[sample_dim]) if sample_dim else 1
    t = int(ds.sizes[time_dim])
    arrays = {}
    for fname, sources in groups.items():
        axes = [tuple(da.dims) for da in sources]
        if len(set(axes)) != 1:
            raise DataError(f"{where}: field {fname!r} groups variables with different dims {axes}; "
                            "group only variables over the same dims")
        order = axes[0]
        arrays[fname] = LazyField([_XSource(da, order) for da in sources],
                                  " ".join(roles[d] for d in order), n=n, t=t)
    coords = [checked_coordinate(ds[d].values, (ds.sizes[d],), f"{where}: coordinate {d!r}", f"dim {d!r}")
              if d in ds.coords and np.issubdtype(ds[d].dtype, np.number) else None for d in space_dims]
    tc = ds[time_dim].values if time_dim in ds.coords else None
    units = {axis: str(ds[d].attrs["units"]) for axis, d in ((*zip(space_dims, space_dims), ("time", time_dim)))
             if d in ds.coords and "units" in ds[d].attrs}
    if tc is not None and np.issubdtype(tc.dtype, np.datetime64):
        tc = (tc - tc[0]) / np.timedelta64(1, "s")
        units["time"] = "s"
    if tc is not None:
        tc = checked_coordinate(tc, (t,), f"{where}: coordinate {time_dim!r}", f"the {t} frames of dim {time_dim!r}",
                                time=True)
    grid = tuple(int(ds.sizes[s]) for s in space_dims)
    stem = os.path.splitext(os.path.basename(source.rstrip("/")))[0] if source else "xarray"
    spec = DatasetSpec(
        name=name or str(ds.attrs.get("dataset_name", stem)), grid_shape=grid,
        fields=tuple(FieldSpec(k, a.components) for k, a in arrays.items()), n_trajectories=n,
        n_steps=t, dt=uniform_step(tc, f"{where} {time_dim}") if tc is not None else None,
        spacing=spacing_of(coords, where), axis_names=tuple(space_dims), source=source, format=format,
        attrs=json_attrs(ds.attrs), coordinates=coordinates_of(space_dims, coords, tc), coordinate_units=units)
    if boundary_conditions is not None:
        spec.set_boundaries(boundary_conditions)
    out = PDEDataset(spec, arrays, reopen=reopen)
    return check_first_frame(out) if check_finite else out


def _select(ds: Any, fields: Any, channels: Any, channel_dim: Optional[str], variable: Optional[str],
            roles: dict, space_dims: list, time_dim: str, where: str) -> dict[str, list]:
    """`{field: [DataArray, ...]}`: the variables (or channel slices) of each field."""
    names = list(ds.data_vars)

    def get(v: str) -> Any:
        if v not in ds.data_vars:
            raise DataError(f"{where}: no variable {v!r}; variables are {names}")
        extra = [dm for dm in ds[v].dims if dm not in roles]
        if extra:
            raise DataError(f"{where}: variable {v!r} has dims {extra} that are not sample, time, space "
                            "or channel; name them with dims=... or drop the variable")
        return ds[v]

    if channels is not None:
        if channel_dim is None:
            raise DataError(f"{where}: channels= needs channel_dim= (the dim that stacks the channels)")
        carriers = [v for v in names if channel_dim in ds[v].dims]
        if variable is None and len(carriers) != 1:
            raise DataError(f"{where}: variables {carriers} carry dim {channel_dim!r}; pick one with variable=")
        da = get(variable or carriers[0])
        size = da.sizes[channel_dim]
        out = {}
        for fname, idx in channels.items():
            idx = [int(i) for i in (idx if isinstance(idx, (list, tuple, range)) else [idx])]
            if not idx or any(not 0 <= i < size for i in idx):
                raise DataError(f"{where}: channels[{fname!r}] = {idx} out of range for {channel_dim!r} "
                                f"of size {size}")
            out[str(fname)] = [da.isel({channel_dim: idx})]
        return out
    needed = {time_dim, *space_dims}
    candidates = [v for v in names
                  if needed <= set(ds[v].dims) and all(dm in roles for dm in ds[v].dims)]
    if fields is not None:
        if isinstance(fields, Mapping):
            chosen = {str(k): [vs] if isinstance(vs, str) else list(vs) for k, vs in fields.items()}
        elif isinstance(fields, (list, tuple)):
            chosen = {str(v): [v] for v in fields}
        else:
            raise DataError(f"{where}: fields={fields!r} must map field names to variable lists, "
                            "e.g. {'velocity': ['u', 'v'], 'pressure': ['p']}, or list variable names")
        left_out = [v for v in candidates if not any(v in vs for vs in chosen.values())]
        if left_out:
            logger.info("%s: fields= names the fields to read; not read: %s (add them to fields= to keep them)",
                        where, ", ".join(left_out))
        return {k: [get(v) for v in vs] for k, vs in chosen.items()}
    if not candidates:
        raise DataError(f"{where}: no variable spans dims {sorted(needed)}; variables are "
                        f"{ {v: ds[v].dims for v in names} }; pass fields=... and dims=... ({FORMATS_PAGE})")
    return {k: [ds[v] for v in vs] for k, vs in _group_vectors(candidates, len(space_dims)).items()}


def _group_vectors(names: list[str], d: int) -> dict[str, list[str]]:
    """`[rho, u, v, p] -> {rho: [rho], velocity: [u, v], p: [p]}` for d = 2; a group sits where its first
    component is, whatever the order of the others (`[v, h, u]` -> `{velocity: [u, v], h: [h]}`)."""
    groups: list[tuple[str, list[str]]] = []
    if d >= 2 and all(c in names for c in ("u", "v", "w")[:d]):
        groups.append(("velocity", list(("u", "v", "w")[:d])))
    for v in names:
        prefix = v[:-1]
        comps = [prefix + a for a in "xyz"[:d]]
        if (d >= 2 and v[-1:] == "x" and prefix and all(c in names for c in comps)
                and (d == 3 or prefix + "xyz"[d] not in names)):
            base = prefix.rstrip("_")
            groups.append((_VECTOR_NAMES.get(base.lower(), base) or "vector", comps))
    group_of: dict[str, tuple[str, list[str]]] = {}
    for gname, comps in groups:
        taken = gname in names or gname in {g for g, _ in group_of.values()}
        if not taken and not any(c in group_of for c in comps):
            group_of.update({c: (gname, comps) for c in comps})
    out: dict[str, list[str]] = {}
    for v in names:
        gname, comps = group_of.get(v, (v, [v]))
        out.setdefault(gname, comps)
    return out


class _XSource:
    """One xarray variable as an array-like over `dims` (in that order), read per index."""

    def __init__(self, da: Any, dims: tuple[str, ...]) -> None:
        self.da, self.dims = da, dims
        self.shape = tuple(int(da.sizes[d]) for d in dims)

    def __getitem__(self, key: tuple) -> np.ndarray:
        sel = {d: k for d, k in zip(self.dims, key) if k != slice(None)}
        kept = [d for d, k in zip(self.dims, key) if not isinstance(k, (int, np.integer))]
        return np.asarray(self.da.isel(sel).transpose(*kept).values)


#: The options of `from_xarray` a user gives (the readers that open through it set the others).
XARRAY_OPTIONS = keyword_names(from_xarray, skip=1, exclude=("source", "reopen", "format"))

register(Reader("netcdf", "netCDF / anything xarray opens (dims and variable grouping by name or option)",
                sniff, open_netcdf, remote=True, options=("engine", *XARRAY_OPTIONS)))
