"""The Well HDF5 files (one file, or a directory such as `<dataset>/data/train`).

Layout (the_well `docs/data_format.md`; for users docs/formats.md):

    root  @dataset_name @n_spatial_dims @n_trajectories @grid_type @simulation_parameters
    dimensions/   @spatial_dims ["x", "y"]; time (T,) or (N, T); x (X,), y (Y,)
    boundary_conditions/<name>/  @bc_type @associated_dims, mask
    t0_fields/<f>  (N, T, *space)          -> scalar field, 1 component
    t1_fields/<f>  (N, T, *space, d)       -> vector field, d components
    t2_fields/<f>  (N, T, *space, d, d)    -> tensor field, d*d components (row-major)

A field whose `sample_varying` / `time_varying` attribute is false has no N / T
axis and is broadcast; an axis whose `dim_varying` entry is false is stored
with length 1 or omitted, and is broadcast too. Boundary conditions per axis
come from the `bc_type` of the groups associated with it (lower-cased); an
axis no group names is open (as in the_well), one with mixed types `unknown`.
A directory's files are concatenated along N lazily; they must agree on
fields, time steps and grid. `spec.attrs` holds the simulation parameters
(those equal across all files).
"""

from __future__ import annotations

import functools
import glob
import os
from typing import Any

import numpy as np

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import Reader, register
from pde_data.readers._common import (HDF5_SUFFIXES, ConcatN, as_str, check_first_frame, checked_coordinate, is_hdf5,
                                      json_attrs, open_h5, spacing_of, str_list, stream_chunks, uniform_step,
                                      coordinates_of)
from pde_data.remote import is_url, list_files, local_path, remote_config
from pde_data.spec import BOUNDARY_CONDITIONS, DatasetSpec, FieldSpec

__all__ = ["open_well", "sniff"]

_LETTERS = "xyz"
_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def _is_well_file(path: str, remote: Any = None) -> bool:
    if not is_hdf5(path, remote):
        return False
    try:
        with open_h5(path, remote) as f:
            return "n_spatial_dims" in f.attrs and all(g in f for g in _GROUPS)
    except (DataError, OSError):
        return False


def _files(path: str, remote: Any = None) -> list[str]:
    if is_url(path):  # a file, or a directory the server lists
        if path.lower().endswith(HDF5_SUFFIXES):
            return [path]
        return list_files(path.rstrip("/"), remote_config(remote), (".hdf5", ".h5"))
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(path, "*.hdf5")) + glob.glob(os.path.join(path, "*.h5")))
    return [path]


def sniff(path: str, remote: Any = None) -> bool:
    if is_url(path) and not path.lower().endswith(HDF5_SUFFIXES):
        return False  # a remote directory is opened with format="the_well", not guessed
    files = _files(path, remote)
    return bool(files) and _is_well_file(files[0], remote)


def open_well(path: str, check_finite: bool = True, remote: Any = None) -> PDEDataset:
    """Open a Well file, or a directory of Well files, lazily as a `PDEDataset`.

    `path` may be an fsspec URL of a file or of a directory the server lists; `remote` (a
    `pde_data.remote.RemoteConfig` or a mapping of its fields) says how it is read.
    """
    path = local_path(os.fspath(path))
    remote = remote_config(remote) if is_url(path) else None
    files = _files(path, remote)
    if not files:
        raise DataError(f"{path}: directory has no *.hdf5 / *.h5 files; point at a Well split "
                        "directory such as <dataset>/data/train or at one file")
    parts = [_open_file(p, remote) for p in files]
    spec, arrays = parts[0]
    for other, _ in parts[1:]:
        for what in ("fields", "n_steps", "grid_shape", "axis_names"):
            if getattr(other, what) != getattr(spec, what):
                raise DataError(f"{other.source}: {what} {getattr(other, what)} differ from "
                                f"{spec.source}'s {getattr(spec, what)}; a directory must hold "
                                "one dataset: move the odd file out")
    if len(parts) > 1:
        arrays = {k: ConcatN([a[k] for _, a in parts]) for k in arrays}
        spec.n_trajectories = sum(s.n_trajectories for s, _ in parts)
        spec.attrs = {k: v for k, v in spec.attrs.items() if all(s.attrs.get(k) == v for s, _ in parts)}
        spec.source = path
    ds = PDEDataset(spec, arrays, reopen=functools.partial(open_well, path, check_finite=check_finite,
                                                           remote=remote), remote=remote is not None)
    return check_first_frame(ds) if check_finite else ds


def _open_file(path: str, remote: Any = None) -> tuple[DatasetSpec, dict[str, Any]]:
    f = open_h5(path, remote)
    try:
        spec, arrays = _read_file(f, path)
        stream_chunks(arrays, path, remote)  # over a URL: chunks fetched concurrently, around h5py
        return spec, arrays
    except KeyError as err:
        f.close()
        raise DataError(f"{path}: missing key {err}; not a complete Well file "
                        f"(the layout: {FORMATS_PAGE}, or the_well's docs/data_format.md)") from err
    except DataError:
        f.close()
        raise


def _read_file(f: Any, path: str) -> tuple[DatasetSpec, dict[str, Any]]:
    d = int(f.attrs["n_spatial_dims"])
    dims = f["dimensions"]
    axes = str_list(dims.attrs["spatial_dims"])
    if len(axes) != d or not 1 <= d <= 3:
        raise DataError(f"{path}: n_spatial_dims = {d} but dimensions/@spatial_dims = {axes}; "
                        f"1 to 3 matching spatial dims are supported (the layout: {FORMATS_PAGE})")
    grid = tuple(int(dims[a].shape[-1]) for a in axes)
    time = dims["time"]
    n_steps = int(time.shape[-1])
    n = int(f.attrs["n_trajectories"])
    arrays: dict[str, Any] = {}
    fields = []
    for order, group in enumerate(_GROUPS):
        for name in str_list(f[group].attrs.get("field_names", [])):
            if name in arrays:
                raise DataError(f"{path}: field name {name!r} appears twice; rename one")
            arrays[name] = _field(f[group][name], order, d, grid, n, n_steps, f"{path} {group}/{name}")
            fields.append(FieldSpec(name, d**order))
    if not fields:
        raise DataError(f"{path}: no fields in t0_fields/t1_fields/t2_fields (field_names are empty; the layout: "
                        f"{FORMATS_PAGE})")
    t = checked_coordinate(time[0] if time.ndim == 2 else time[:], (n_steps,), f"{path}: dimensions/time",
                           f"the {n_steps} frames", time=True)
    coords = [checked_coordinate(dims[a][0] if dims[a].ndim == 2 else dims[a][:], (g,), f"{path}: dimensions/{a}",
                                 f"the {g} cells along {a}") for a, g in zip(axes, grid)]
    params = str_list(f.attrs.get("simulation_parameters", []))
    attrs = json_attrs({p: f.attrs[p] for p in params if p in f.attrs})
    spec = DatasetSpec(
        name=as_str(f.attrs.get("dataset_name", os.path.splitext(os.path.basename(path))[0])),
        grid_shape=grid, fields=tuple(fields), n_trajectories=n, n_steps=n_steps,
        dt=uniform_step(t, f"{path} dimensions/time"), spacing=spacing_of(coords, path),
        boundary_conditions=_boundaries(f, axes), axis_names=tuple(axes), source=path,
        format="the_well", attrs=attrs, coordinates=coordinates_of(axes, coords, t))
    return spec, arrays


def _field(ds: Any, order: int, d: int, grid: tuple[int, ...], n: int, t: int, where: str) -> Any:
    """A `(N, T, d**order, *grid)` lazy view of one Well field dataset."""
    lead = (["n"] if bool(ds.attrs.get("sample_varying", True)) else []) + \
           (["t"] if bool(ds.attrs.get("time_varying", True)) else [])
    varying = [bool(v) for v in np.asarray(ds.attrs.get("dim_varying", [True] * d)).reshape(-1)]
    space = list(_LETTERS[:d])
    candidates = [
        (space, ["c"] * order),                                         # full spatial axes
        ([a for a, v in zip(space, varying) if v], ["c"] * order),      # non-varying axes omitted
    ]
    if order == 2:  # flattened d*d, as in the_well's spec example
        candidates += [(s, ["c"]) for s, _ in candidates]
    for stored, comp in candidates:
        letters = lead + stored + comp
        if len(letters) == ds.ndim and _sizes_ok(ds.shape, letters, grid, varying, d, order):
            field = LazyField([ds], " ".join(letters), n=n, t=t)
            if field.grid != grid:
                return _SpaceBroadcast(field, grid, [a in stored for a in space])
            return field
    raise DataError(f"{where}: shape {ds.shape} does not fit the Well layout for a tensor of order "
                    f"{order} on grid {grid} (sample_varying/time_varying/dim_varying attributes); "
                    f"fix the attributes or the array (the layout: {FORMATS_PAGE})")


def _sizes_ok(shape: tuple, letters: list[str], grid: tuple, varying: list, d: int, order: int) -> bool:
    c_sizes = [s for s, a in zip(shape, letters) if a == "c"]
    if order and int(np.prod(c_sizes)) != d**order:
        return False
    for s, a in zip(shape, letters):
        if a in _LETTERS:
            k = _LETTERS.index(a)
            if s != grid[k] and not (s == 1 and not varying[k]):
                return False
    return True


class _SpaceBroadcast:
    """A field with some spatial axes of length 1 or missing, broadcast to `grid`."""

    def __init__(self, field: LazyField, grid: tuple[int, ...], kept: list[bool]) -> None:
        self.field, self.grid, self.kept = field, grid, kept
        self.shape = (field.n, field.t, field.components, *grid)

    def __getitem__(self, key: tuple) -> np.ndarray:
        block = self.field[key]  # (T', C, *stored space)
        it = iter(block.shape[2:])
        unit = tuple(next(it) if k else 1 for k in self.kept)
        return np.broadcast_to(block.reshape(*block.shape[:2], *unit), (*block.shape[:2], *self.grid))


def _boundaries(f: Any, axes: list[str]) -> tuple[str, ...]:
    types: dict[str, set[str]] = {a: set() for a in axes}
    bcs = f["boundary_conditions"] if "boundary_conditions" in f else {}
    for key in bcs:
        group = bcs[key]
        kind = as_str(group.attrs.get("bc_type", "unknown")).lower()
        for a in str_list(group.attrs.get("associated_dims", [])):
            if a in types:
                types[a].add(kind if kind in BOUNDARY_CONDITIONS else "unknown")
    return tuple(next(iter(s)) if len(s) == 1 else "open" if not s else "unknown"
                 for s in (types[a] for a in axes))


register(Reader("the_well", "The Well HDF5 (t0/t1/t2 fields; one file or a directory of files)",
                sniff, open_well, remote=True))
