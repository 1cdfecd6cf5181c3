"""A rollout as an xarray Dataset with coordinates, written atomically to netCDF or zarr.

Layout: one variable per field and role, `{field}_pred` and `{field}_true`, of
dims `([sample,] time, {field}_component, *space)`: the time dim has one entry
per predicted step, each field keeps its own component count (no padding on
disk), and the spatial dims are the dataset's axis names (x, y, z) with the
source's coordinates (`DatasetSpec.axis_values`: the file's, else `spacing * index`,
else the grid index). The time coordinate is the physical time of each frame (the
file's time coordinate, else `frame * dt`, else the frame index), with the frame
index and the step (1..K) beside it; units where the file says them.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
import torch

from pde_data import DataError, DatasetSpec
from pde_data.files import atomic_directory, atomic_file

if TYPE_CHECKING:  # xarray is imported on first use: the `morph` CLI starts faster
    import xarray as xr

__all__ = ["save_xarray", "to_xarray"]

logger = logging.getLogger(__name__)

SUFFIXES = (".nc", ".zarr")


def _numpy(t: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _infer_dims(shape: Sequence[int]) -> int:
    """Spatial dims of a canonical `(D, H, W)` grid: 3 if D > 1, 2 if H > 1, else 1."""
    d, h, _ = shape
    return 3 if d > 1 else 2 if h > 1 else 1


def _attr(value: Any) -> Any:
    """An attribute value netCDF can store (numbers and strings; the rest as text)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return str(value)


def to_xarray(prediction: Union[torch.Tensor, np.ndarray],
              truth: Optional[Union[torch.Tensor, np.ndarray]] = None,
              spec: Optional[DatasetSpec] = None, *, first_frame: int = 0,
              attrs: Optional[dict[str, Any]] = None) -> "xr.Dataset":
    """The rollout as an `xarray.Dataset` (see the module docstring for the layout).

    prediction, truth: `(K, F, C, D, H, W)` for one trajectory, or `(B, K, F, C, D, H, W)`
        (a `sample` dim is added when B > 1), physical units.
    spec: names, component counts, axis names, spacing and dt of the fields; without it
        fields are `field0, field1, ...` with all C components, and axes x, y, z.
    first_frame: the trajectory's frame index of the first predicted step (history
        start + history length), for the time coordinate.
    attrs: extra global attributes (e.g. the checkpoint, the trajectory index).
    """
    import xarray as xr

    pred = _numpy(prediction)
    true = None if truth is None else _numpy(truth)
    if pred.ndim == 6:
        pred, true = pred[None], None if true is None else true[None]
    if pred.ndim != 7 or (true is not None and true.shape != pred.shape):
        raise DataError(f"to_xarray: prediction must be (K, F, C, D, H, W) or (B, K, F, C, D, H, W) and "
                        f"truth the same shape; got {pred.shape} and "
                        f"{None if true is None else true.shape}")
    b, k, f, c = pred.shape[:4]
    grid = pred.shape[4:]
    if spec is not None:
        names, components = spec.field_names, spec.components
        n_dims, axes = spec.n_spatial_dims, list(spec.axis_names)
        if len(names) != f or max(components) > c or tuple(spec.grid_shape) != tuple(grid[3 - n_dims:]):
            raise DataError(f"to_xarray: the prediction {pred.shape[1:]} does not match the spec of "
                            f"{spec.name!r} (fields {names}, components {components}, grid {spec.grid_shape})")
    else:
        names, components = [f"field{i}" for i in range(f)], [c] * f
        n_dims = _infer_dims(grid)
        axes = ["x", "y", "z"][:n_dims]
    lead = ("sample",) if b > 1 else ()
    frames = np.arange(first_frame, first_frame + k)
    coords: dict[str, Any] = {
        "time": ("time", _times(spec, frames), {"units": _time_units(spec)}),
        "frame": ("time", frames),
        "step": ("time", np.arange(1, k + 1)),
    }
    for i, (axis, n) in enumerate(zip(axes, grid[3 - n_dims:])):
        coords[axis] = (axis, np.asarray(spec.axis_values(axis)) if spec is not None else np.arange(n, dtype=np.float64),
                        _axis_attrs(spec, axis, i))
    variables = {}
    for fi, (name, nc) in enumerate(zip(names, components)):
        dims = (*lead, "time", f"{name}_component", *axes)
        coords[f"{name}_component"] = np.arange(nc)
        for role, values in (("pred", pred), ("true", true)):
            if values is None:
                continue
            block = values[:, :, fi, :nc].reshape(b, k, nc, *grid[3 - n_dims:])
            variables[f"{name}_{role}"] = (dims, block[0] if b == 1 else block,
                                           {"field": name, "role": "prediction" if role == "pred" else "truth"})
    meta = {"dataset": spec.name if spec is not None else "", "fields": ",".join(names),
            "steps": k, "first_frame": first_frame, "n_spatial_dims": n_dims}
    meta.update({key: _attr(v) for key, v in (attrs or {}).items() if v is not None})
    return xr.Dataset(variables, coords=coords, attrs=meta)


def _times(spec: Optional[DatasetSpec], frames: np.ndarray) -> np.ndarray:
    """The physical times of trajectory `frames`: the source's time coordinate, else frame x dt, else the
    frame index (frames past the spec's last continue at its last step)."""
    if spec is None or (spec.dt is None and "time" not in spec.coordinates):
        return frames.astype(np.float64)
    times = np.asarray(spec.axis_values("time"))
    step = times[-1] - times[-2] if len(times) > 1 else (spec.dt or 1.0)
    return np.where(frames < len(times), times[np.minimum(frames, len(times) - 1)],
                    times[-1] + (frames - len(times) + 1) * step)


def _time_units(spec: Optional[DatasetSpec]) -> str:
    if spec is None or (spec.dt is None and "time" not in spec.coordinates):
        return "frame index"
    return spec.coordinate_units.get("time", "time units of the dataset")


def _axis_attrs(spec: Optional[DatasetSpec], axis: str, i: int) -> dict[str, Any]:
    """Where a spatial coordinate comes from (and its units where the source says them)."""
    if spec is not None and axis in spec.coordinates:
        attrs: dict[str, Any] = {"source": "coordinates of the dataset"}
    elif spec is not None and spec.spacing:
        attrs = {"spacing": spec.spacing[i]}
    else:
        attrs = {"spacing": "grid index"}
    if spec is not None and axis in spec.coordinate_units:
        attrs["units"] = spec.coordinate_units[axis]
    return attrs


def save_xarray(dataset: "xr.Dataset", path: Union[str, Path]) -> Path:
    """Write `dataset` to `path` (`.nc` through h5netcdf, or a `.zarr` directory) atomically:
    to a temporary sibling first, then renamed over `path` (an existing one is replaced)."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown output format {path.suffix!r}; use a .nc or .zarr path")
    if not path.parent.exists():
        raise DataError(f"{path}: the directory {path.parent} does not exist; create it first")
    if path.suffix == ".nc":
        with atomic_file(path) as tmp:
            dataset.to_netcdf(tmp, engine="h5netcdf")
    else:
        with atomic_directory(path) as staging, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            dataset.to_zarr(staging, mode="w", consolidated=True)
    logger.debug("wrote %s", path)
    return path
