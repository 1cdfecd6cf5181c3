"""PDEBench HDF5 files, opened lazily in place.

Layouts (for users: docs/formats.md):

- single array (`1D_Advection_Sols_beta*.hdf5`, `1D_Burgers_Sols_Nu*.hdf5`,
  `ReacDiff_Nu*_Rho*.hdf5`): `tensor (N, T, X[, Y[, Z]])`, `x-coordinate (X,)`,
  `t-coordinate (T + 1,)` -> one scalar field `u` (rename with `fields=["c"]`);
  boundaries assumed periodic (the file does not say; `spec.assumed_boundaries`).
- compressible CFD (`*_CFD_*`): `density`, `pressure`, `Vx[, Vy[, Vz]]`
  `(N, T, *space)` -> `density`, `pressure` scalars and ONE `velocity` vector
  with as many components as spatial dims; boundaries from the file name
  (`periodic` -> periodic, `trans` -> open).
- grouped (`*_diff-sorp_*`, `*_diff-react_*`, `*_rdb_*`): groups `"0000"`, ...
  each with `data (T, *space, C)` channels last and `grid/x`, `grid/y`, `grid/t`
  (length T). Channels become scalar fields named `u` (`height` for rdb) or
  `u`, `v` for two channels; `fields={"velocity": 2}` names and groups them.
  Spatial axes are taken in stored order.
- incompressible NS (`ns_incom_*`): `velocity (B, T, X, Y, 2)` vector,
  `particles (B, T, X, Y, 1)` scalar, `force (B, X, Y, 2)` constant in time and
  exposed as a vector field broadcast over time (`include_force=False` skips
  it), `t (B, T)`.
- Darcy (`tensor (N, 1, X, Y)` + `nu`, no `t-coordinate`) is refused: it is a
  steady input -> output dataset, not a trajectory.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Optional

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import Reader, register
from pde_data.readers._common import (AxisView, Stack, check_first_frame, checked_coordinate, field_groups, is_hdf5,
                                      json_attrs, open_h5, spacing_of, stream_chunks, uniform_step,
                                      coordinates_of)
from pde_data.remote import is_url, local_path, remote_config
from pde_data.spec import DatasetSpec, FieldSpec

__all__ = ["open_pdebench", "sniff"]

logger = logging.getLogger(__name__)

_SPACE = "xyz"


def _kind(f: Any) -> Optional[str]:
    keys = set(f.keys())
    if "n_spatial_dims" in f.attrs:
        return None  # The Well
    if "tensor" in keys:
        return "darcy" if "t-coordinate" not in keys and "nu" in keys else "single"
    if {"density", "pressure", "Vx"} <= keys:
        return "cfd"
    if {"velocity", "particles"} <= keys:
        return "ns_incom"
    if keys and all(k.isdigit() for k in keys) and "data" in f[sorted(keys)[0]]:
        return "grouped"
    return None


def sniff(path: str, remote: Any = None) -> bool:
    if not is_hdf5(path, remote):
        return False
    try:
        with open_h5(path, remote) as f:
            return _kind(f) is not None
    except (DataError, OSError, KeyError):
        return False


def open_pdebench(path: str, fields: Any = None, include_force: bool = True,
                  check_finite: bool = True, remote: Any = None) -> PDEDataset:
    """Open a PDEBench HDF5 file lazily; see the module docstring for layouts.

    `fields` names (and groups) the channels of single-array and grouped
    files: a list of names, or `{name: components}`. `path` may be an fsspec
    URL, read as `remote` (a `pde_data.remote.RemoteConfig` or a mapping) says.
    """
    path = local_path(os.fspath(path))
    remote = remote_config(remote) if is_url(path) else None
    f = open_h5(path, remote)
    kind = _kind(f)
    name = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
    if kind is None:
        keys = sorted(f.keys())
        f.close()
        raise DataError(f"{path}: not a PDEBench layout (root keys {keys}); "
                        "expected `tensor`, `density/pressure/Vx`, `velocity/particles` or "
                        f"groups '0000', ... (layouts: {FORMATS_PAGE}); pass format=... for another reader")
    if kind == "darcy":
        f.close()
        raise DataError(f"{path}: a PDEBench Darcy flow file (`tensor (N, 1, X, Y)` with `nu`, no "
                        "`t-coordinate`) is a steady-state input -> output dataset, not a "
                        "trajectory; it cannot be opened as a time series")
    if fields is not None and kind not in ("single", "grouped"):
        f.close()
        raise DataError(f"{path}: fields= applies to single-array and grouped PDEBench files, "
                        f"not to {kind} files whose fields are named in the file")
    try:
        arrays, spec_kw = _BUILDERS[kind](f, path, name, fields=fields, include_force=include_force)
        stream_chunks(arrays, path, remote)  # over a URL: chunks fetched concurrently, around h5py
        n, t, _, *grid = next(iter(arrays.values())).shape
        spec = DatasetSpec(
            name=name, grid_shape=tuple(grid), n_trajectories=n, n_steps=t,
            fields=tuple(FieldSpec(k, int(a.shape[2])) for k, a in arrays.items()),
            axis_names=_SPACE[: len(grid)], source=path, format="pdebench",
            attrs=json_attrs({k: v for k, v in f.attrs.items() if k != "config"}), **spec_kw)
    except KeyError as err:
        f.close()
        raise DataError(f"{path}: missing key {err} for a PDEBench {kind} file (its layout: {FORMATS_PAGE})") from err
    except DataError:
        f.close()
        raise
    reopen = functools.partial(open_pdebench, path, fields=fields, include_force=include_force,
                               check_finite=check_finite, remote=remote)
    ds = PDEDataset(spec, arrays, reopen=reopen, remote=remote is not None)
    return check_first_frame(ds) if check_finite else ds


def _space_letters(ndim: int, path: str, key: str) -> str:
    if not 1 <= ndim <= 3:
        raise DataError(f"{path}: {key!r} has {ndim} spatial dims; 1 to 3 are supported")
    return " ".join(_SPACE[:ndim])


def _single(f: Any, path: str, name: str, fields: Any, **_: Any) -> tuple[dict, dict]:
    tensor = f["tensor"]  # (N, T, *space)
    space = _space_letters(tensor.ndim - 2, path, "tensor")
    groups = field_groups(fields if fields is not None else ["u"], 1, f"{path} fields=")
    d = tensor.ndim - 2
    # the file does not say: PDEBench's advection, Burgers and reaction-diffusion generators are periodic
    spec_kw = dict(**_coordinates(f, path, "tensor", time_required=True), boundary_conditions=("periodic",) * d,
                   assumed_boundaries=tuple(_SPACE[:d]))
    return {groups[0][0]: LazyField([tensor], f"n t {space}")}, spec_kw


def _coordinates(f: Any, path: str, key: str, time_required: bool = False) -> dict[str, Any]:
    """dt and spacing of a single-array or CFD file, from `t-coordinate` and `x-coordinate`, ..., each checked
    against `key (N, T, *space)`; a missing coordinate leaves its value out (logged), or for `t-coordinate`
    with `time_required` is a DataError."""
    n_steps, *grid = f[key].shape[1:]
    coords = [checked_coordinate(f[f"{a}-coordinate"], (g,), f"{path}: {a}-coordinate", f"the {g} cells along {a} "
                                 f"of `{key}`") if f"{a}-coordinate" in f else None for a, g in zip(_SPACE, grid)]
    if "t-coordinate" not in f and time_required:
        raise DataError(f"{path}: missing key 't-coordinate': the time stamps of the {n_steps} frames of `{key}` "
                        f"(T + 1 of them in PDEBench's files; layouts: {FORMATS_PAGE})")
    if "t-coordinate" not in f:
        logger.info("%s: no t-coordinate; dt is left out of the spec", path)
        return dict(dt=None, spacing=spacing_of(coords, path), coordinates=coordinates_of(_SPACE, coords))
    t = checked_coordinate(f["t-coordinate"], (n_steps, n_steps + 1), f"{path}: t-coordinate",
                           f"the {n_steps} frames of `{key}` (PDEBench's files hold one time stamp more)", time=True)
    return dict(dt=uniform_step(t, f"{path} t-coordinate"), spacing=spacing_of(coords, path),
                coordinates=coordinates_of(_SPACE, coords, t))


def _cfd(f: Any, path: str, name: str, **_: Any) -> tuple[dict, dict]:
    d = f["density"].ndim - 2
    space = _space_letters(d, path, "density")
    comps = [f"V{a}" for a in _SPACE[:d]]
    missing = [c for c in comps if c not in f]
    extra = [c for c in ("Vx", "Vy", "Vz")[d:] if c in f]
    if missing or extra:
        raise DataError(f"{path}: a {d}D CFD file needs velocity components {comps}, "
                        f"missing {missing}, unexpected {extra} (the layout: {FORMATS_PAGE})")
    arrays = {"density": LazyField([f["density"]], f"n t {space}"),
              "pressure": LazyField([f["pressure"]], f"n t {space}"),
              "velocity": LazyField([f[c] for c in comps], f"n t {space}")}
    bc = "periodic" if "periodic" in name else "open" if "trans" in name else "unknown"
    return arrays, dict(**_coordinates(f, path, "density"), boundary_conditions=(bc,) * d)


def _grouped(f: Any, path: str, name: str, fields: Any, **_: Any) -> tuple[dict, dict]:
    keys = sorted(k for k in f.keys() if k.isdigit())
    data = Stack([f[k]["data"] for k in keys], f"{path} groups {keys[0]}..{keys[-1]}")  # (N, T, *space, C)
    d = len(data.shape) - 3
    space = _space_letters(d, path, f"{keys[0]}/data")
    n_ch = data.shape[-1]
    if fields is None:
        low = name.lower()
        fields = ["height"] if n_ch == 1 and "rdb" in low else ["u"] if n_ch == 1 else \
            ["u", "v"] if n_ch == 2 else [f"channel_{c}" for c in range(n_ch)]
    arrays, c0 = {}, 0
    for fname, comps in field_groups(fields, n_ch, f"{path} fields="):
        channels = AxisView(data, d + 2, slice(c0, c0 + comps))  # (N, T, *space, comps)
        arrays[fname] = LazyField([channels], f"n t {space} c")
        c0 += comps
    grid = f[keys[0]]["grid"] if "grid" in f[keys[0]] else {}
    n_steps, *sizes = data.shape[1:-1]
    where = f"{keys[0]}/data"
    coords = [checked_coordinate(grid[a], (g,), f"{path}: {keys[0]}/grid/{a}", f"the {g} cells along {a} of {where}")
              if a in grid else None for a, g in zip(_SPACE, sizes)]
    t = checked_coordinate(grid["t"], (n_steps,), f"{path}: {keys[0]}/grid/t", f"the {n_steps} frames of {where}",
                           time=True) if "t" in grid else []
    return arrays, dict(dt=uniform_step(t, f"{path} {keys[0]}/grid/t"), spacing=spacing_of(coords, path),
                        coordinates=coordinates_of(_SPACE, coords, t))


def _ns_incom(f: Any, path: str, name: str, include_force: bool = True, **_: Any) -> tuple[dict, dict]:
    vel = f["velocity"]  # (B, T, X, Y, 2)
    if vel.ndim != 5 or vel.shape[-1] != 2:
        raise DataError(f"{path}: `velocity` has shape {vel.shape}; expected (B, T, X, Y, 2) (the layout: "
                        f"{FORMATS_PAGE})")
    arrays = {"velocity": LazyField([vel], "n t x y c"),
              "particles": LazyField([f["particles"]], "n t x y c")}
    if include_force and "force" in f:
        arrays["force"] = LazyField([f["force"]], "n x y c", t=vel.shape[1])  # constant in time
    t = checked_coordinate(f["t"][0, :], (vel.shape[1],), f"{path}: t", f"the {vel.shape[1]} frames of `velocity`",
                           time=True) if "t" in f else []
    return arrays, dict(dt=uniform_step(t, f"{path} t"), coordinates=coordinates_of((), (), t))


_BUILDERS = {"single": _single, "cfd": _cfd, "grouped": _grouped, "ns_incom": _ns_incom}

register(Reader("pdebench", "PDEBench HDF5 (single-array, CFD, grouped per-sample, incompressible NS)",
                sniff, open_pdebench, remote=True))
