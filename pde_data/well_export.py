"""`export_well(dataset, path)`: write a `PDEDataset` as one The Well HDF5 file.

The file loads in `the_well.data.WellDataset(path=<its directory>)` and in our
`the_well` reader. Fields are classified by component count on a d-dim grid:
1 -> `t0_fields (N, T, *space)`, d -> `t1_fields (N, T, *space, d)`,
d*d -> `t2_fields (N, T, *space, d, d)` (our components are row-major).
Coordinates are `arange(n) * spacing` (spacing 1 if unknown), time is
`arange(T) * dt` (dt 1 if unknown). Each axis with a periodic / wall / open
boundary gets a `boundary_conditions/<axis>_<type>` group whose mask is true
on the first and last cell; `unknown` axes get none (the Well reads them as
open). Numeric scalar `spec.attrs` become simulation parameters (root
attributes and `scalars/`). Values are float32. The write is atomic
(`pde_data.files.atomic_file`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.errors import DataError
from pde_data.files import atomic_file

__all__ = ["export_well"]

logger = logging.getLogger(__name__)


def _order(components: int, d: int, name: str, path: str) -> int:
    if components == 1:
        return 0
    if components == d:
        return 1
    if components == d * d:
        return 2
    raise DataError(f"{path}: field {name!r} has {components} components on a {d}D grid; the Well "
                    f"stores 1 (scalar, t0), {d} (vector, t1) or {d * d} (tensor, t2) components: "
                    "split the field into scalars first")


def export_well(dataset: PDEDataset | str | os.PathLike, path: str | os.PathLike) -> str:
    """Write `dataset` (a `PDEDataset`, or a path or URL `pde_data.open` reads) to `path` (a `.hdf5`
    file) in The Well layout; returns the path."""
    import h5py

    if not isinstance(dataset, PDEDataset):
        from pde_data.readers import open as open_dataset

        dataset = open_dataset(dataset)
    path = os.fspath(path)
    spec = dataset.spec
    d = spec.n_spatial_dims
    if not path.endswith((".hdf5", ".h5")):
        raise DataError(f"{path}: the Well reads *.hdf5 / *.h5 files only; give the file that suffix")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DataError(f"{path}: directory {directory} does not exist; create it first")
    orders = [_order(fs.components, d, fs.name, path) for fs in spec.fields]
    with atomic_file(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_header(f, spec)
            groups = {o: f.create_group(f"t{o}_fields") for o in range(3)}
            for o, g in groups.items():
                g.attrs["field_names"] = [fs.name for fs, k in zip(spec.fields, orders) if k == o]
            dsets = {}
            for fs, o in zip(spec.fields, orders):
                shape = (spec.n_trajectories, spec.n_steps, *spec.grid_shape, *(d,) * o)
                chunks = (1, 1, *spec.grid_shape, *(d,) * o)
                ds = groups[o].create_dataset(fs.name, shape=shape, dtype="float32", chunks=chunks)
                ds.attrs["dim_varying"] = [True] * d
                ds.attrs["sample_varying"] = True
                ds.attrs["time_varying"] = True
                if o == 2:
                    ds.attrs["symmetric"] = False
                    ds.attrs["antisymmetric"] = False
                dsets[fs.name] = (ds, o)
            for i in range(len(dataset)):
                for name, arr in dataset.read(i).items():  # (T, C, *space)
                    ds, o = dsets[name]
                    moved = np.moveaxis(arr, 1, -1)  # (T, *space, C)
                    ds[i] = moved.reshape(*moved.shape[:-1], *(d,) * o)
    logger.info("wrote %s (%d trajectories) in the Well layout", path, len(dataset))
    return path


def _write_header(f: Any, spec: Any) -> None:
    d = spec.n_spatial_dims
    params = {k: v for k, v in spec.attrs.items()
              if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
              and k not in ("dataset_name", "grid_type", "n_spatial_dims", "n_trajectories")}
    f.attrs["dataset_name"] = spec.name
    f.attrs["grid_type"] = "cartesian"
    f.attrs["n_spatial_dims"] = d
    f.attrs["n_trajectories"] = spec.n_trajectories
    f.attrs["simulation_parameters"] = list(params)
    scalars = f.create_group("scalars")
    scalars.attrs["field_names"] = list(params)
    for k, v in params.items():
        f.attrs[k] = v
        ds = scalars.create_dataset(k, data=np.float32(v))
        ds.attrs["sample_varying"] = False
        ds.attrs["time_varying"] = False

    dims = f.create_group("dimensions")
    dims.attrs["spatial_dims"] = list(spec.axis_names)
    time = dims.create_dataset("time", data=np.arange(spec.n_steps, dtype=np.float32) * (spec.dt or 1.0))
    time.attrs["sample_varying"] = False
    time.attrs["time_varying"] = True
    spacing = spec.spacing or (1.0,) * d
    for a, n, h in zip(spec.axis_names, spec.grid_shape, spacing):
        c = dims.create_dataset(a, data=np.arange(n, dtype=np.float32) * np.float32(h))
        c.attrs["sample_varying"] = False
        c.attrs["time_varying"] = False

    bcs = f.create_group("boundary_conditions")
    for a, n, bc in zip(spec.axis_names, spec.grid_shape, spec.boundary_conditions):
        if bc == "unknown":
            continue
        g = bcs.create_group(f"{a}_{bc}")
        g.attrs["bc_type"] = bc.upper()
        g.attrs["associated_dims"] = [a]
        g.attrs["associated_fields"] = []
        g.attrs["sample_varying"] = False
        g.attrs["time_varying"] = False
        mask = np.zeros(n, dtype=bool)
        mask[[0, -1]] = True
        g.create_dataset("mask", data=mask)
