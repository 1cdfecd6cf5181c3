"""PDEArena HDF5 files, opened lazily in place.

Layouts (docs/formats.md, for users): one group per split (`train`, `valid` or `test`; pick
one with `split=` when a file holds several) holding either

- Navier-Stokes 2D (`NavierStokes2D_{mode}_{seed}_{buoyancy}.h5`): `u`
  (smoke density), `vx`, `vy` `(N, T, X, Y)` float64, `t (N, T)`, `x (N, X)`,
  `y (N, Y)`, `buo_y (N,)` -> fields `u` (scalar) and `velocity` (2-vector);
- Maxwell 3D: `d_field`, `h_field` `(N, T, X, Y, Z, 3)` -> two 3-vector fields.

dt and spacing come from the first trajectory's `t`, `x`, `y`, `z` when
present; boundary conditions are unknown. Values are read as float32.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Optional

from pde_data.dataset import LazyField, PDEDataset
from pde_data.errors import FORMATS_PAGE, DataError
from pde_data.readers.registry import Reader, register
from pde_data.readers._common import (check_first_frame, checked_coordinate, coordinates_of, is_hdf5, open_h5, spacing_of,
                                      uniform_step)
from pde_data.spec import DatasetSpec, FieldSpec

__all__ = ["open_pdearena", "sniff"]

_SPLITS = ("train", "valid", "test")


def _layout(group: Any) -> Optional[str]:
    keys = set(group.keys())
    if {"u", "vx", "vy"} <= keys:
        return "navier_stokes"
    if {"d_field", "h_field"} <= keys:
        return "maxwell"
    return None


def sniff(path: str) -> bool:
    if not is_hdf5(path):
        return False
    try:
        with open_h5(path) as f:
            splits = [s for s in _SPLITS if s in f]
            return bool(splits) and _layout(f[splits[0]]) is not None
    except (DataError, OSError):
        return False


def open_pdearena(path: str, split: Optional[str] = None, check_finite: bool = True) -> PDEDataset:
    """Open a PDEArena file lazily; see the module docstring for the layouts."""
    path = os.fspath(path)
    f = open_h5(path)
    splits = [s for s in _SPLITS if s in f]
    if split is None and len(splits) != 1:
        f.close()
        raise DataError(f"{path}: holds splits {splits}; pick one with split=... "
                        f"(a PDEArena file has one group among {_SPLITS})")
    split = split or splits[0]
    if split not in f:
        f.close()
        raise DataError(f"{path}: no split {split!r}; the file holds {splits}")
    g = f[split]
    kind = _layout(g)
    if kind == "navier_stokes":
        arrays = {"u": LazyField([g["u"]], "n t x y"), "velocity": LazyField([g["vx"], g["vy"]], "n t x y")}
        axes = "xy"
    elif kind == "maxwell":
        arrays = {"d_field": LazyField([g["d_field"]], "n t x y z c"),
                  "h_field": LazyField([g["h_field"]], "n t x y z c")}
        axes = "xyz"
    else:
        keys = sorted(g.keys())
        f.close()
        raise DataError(f"{path}: group {split!r} holds {keys}; expected u/vx/vy (Navier-Stokes 2D) "
                        f"or d_field/h_field (Maxwell 3D; the layouts: {FORMATS_PAGE})")
    n, t, _, *grid = arrays[next(iter(arrays))].shape
    first = next(iter(arrays))
    coords = [checked_coordinate(g[a][0], (size,), f"{path}: {split}/{a}", f"the {size} cells along {a} of {first}")
              if a in g and g[a].ndim == 2 else None for a, size in zip(axes, grid)]
    times = checked_coordinate(g["t"][0], (t,), f"{path}: {split}/t", f"the {t} frames of {first}", time=True) \
        if "t" in g and g["t"].ndim == 2 else None
    dt = uniform_step(times, f"{path} {split}/t") if times is not None else None
    spec = DatasetSpec(
        name=os.path.splitext(os.path.basename(path))[0], grid_shape=tuple(grid),
        fields=tuple(FieldSpec(k, a.components) for k, a in arrays.items()), n_trajectories=n,
        n_steps=t, dt=dt, spacing=spacing_of(coords, path), axis_names=tuple(axes), source=path,
        format="pdearena", attrs={"split": split}, coordinates=coordinates_of(axes, coords, times))
    ds = PDEDataset(spec, arrays, reopen=functools.partial(open_pdearena, path, split=split,
                                                           check_finite=check_finite))
    return check_first_frame(ds) if check_finite else ds


register(Reader("pdearena", "PDEArena HDF5 (Navier-Stokes 2D smoke, Maxwell 3D)", sniff, open_pdearena))
