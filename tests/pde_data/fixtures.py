"""Small fixture files in the real on-disk layouts (docs/formats.md), for tests.

Every writer is seeded, writes `path`, and returns what the readers should
give back: `{field: (N, T, C, *space) float32}` (vector components stacked
on axis 2 in x, y, z order; constant fields broadcast over T). Default sizes
cannot be confused: N = 2, T = 5, grid 12 (1D), 12 x 10 (2D), 12 x 10 x 6 (3D).
"""

from __future__ import annotations

from typing import Optional, Sequence

import h5py
import numpy as np

N, T = 2, 5
GRIDS = {1: (12,), 2: (12, 10), 3: (12, 10, 6)}
AXES = "xyz"


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _centres(n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    h = (hi - lo) / n
    return (lo + h * (np.arange(n) + 0.5)).astype(np.float32)


# --- PDEBench -----------------------------------------------------------------------------------
def write_pdebench_single(path: str, d: int = 1, n: int = N, t: int = T, seed: int = 0,
                          dt: float = 0.01) -> dict[str, np.ndarray]:
    """`tensor (N, T, *space)`, `x-coordinate`, ..., `t-coordinate (T + 1,)`, attribute `beta`."""
    rng = np.random.default_rng(seed)
    grid = GRIDS[d]
    tensor = _rand(rng, n, t, *grid)
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=tensor)
        for a, g in zip(AXES, grid):
            f.create_dataset(f"{a}-coordinate", data=_centres(g))
        f.create_dataset("t-coordinate", data=(np.arange(t + 1) * dt).astype(np.float32))
        f.attrs["beta"] = 0.4
    return {"u": tensor[:, :, None]}


def write_pdebench_cfd(path: str, d: int = 2, n: int = N, t: int = T, seed: int = 0,
                       dt: float = 0.05) -> dict[str, np.ndarray]:
    """`density`, `pressure`, `Vx[, Vy[, Vz]]` `(N, T, *space)`; name the file `*_periodic_*` or
    `*_trans_*` for its boundaries."""
    rng = np.random.default_rng(seed)
    grid = GRIDS[d]
    out = {"density": _rand(rng, n, t, *grid), "pressure": _rand(rng, n, t, *grid)}
    comps = [_rand(rng, n, t, *grid) for _ in range(d)]
    with h5py.File(path, "w") as f:
        f.create_dataset("density", data=out["density"])
        f.create_dataset("pressure", data=out["pressure"])
        for a, c in zip(AXES, comps):
            f.create_dataset(f"V{a}", data=c)
        for a, g in zip(AXES, grid):
            f.create_dataset(f"{a}-coordinate", data=_centres(g))
        f.create_dataset("t-coordinate", data=(np.arange(t + 1) * dt).astype(np.float32))
        f.attrs.update({"eta": 0.1, "zeta": 0.1, "M": 1.0})
    return {"density": out["density"][:, :, None], "pressure": out["pressure"][:, :, None],
            "velocity": np.stack(comps, axis=2)}


def write_pdebench_grouped(path: str, d: int = 2, channels: int = 2, n: int = N, t: int = T,
                           seed: int = 0, dt: float = 0.05) -> np.ndarray:
    """Groups `"0000"`, ... each `data (T, *space, C)` (lzf), `grid/x`, `grid/y`, `grid/t (T,)`,
    attribute `config`. Returns the data stacked `(N, T, *space, C)`."""
    rng = np.random.default_rng(seed)
    grid = GRIDS[d]
    data = _rand(rng, n, t, *grid, channels)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g.create_dataset("data", data=data[i], compression="lzf", chunks=True)
            for a, size in zip(AXES, grid):
                g.create_dataset(f"grid/{a}", data=np.linspace(-1, 1, size, dtype=np.float32))
            g.create_dataset("grid/t", data=(np.arange(t) * dt).astype(np.float32))
            g.attrs["config"] = "sim:\n  seed: %d\n" % i
    return data


def write_pdebench_ns_incom(path: str, n: int = N, t: int = T, seed: int = 0,
                            dt: float = 0.005) -> dict[str, np.ndarray]:
    """`velocity (B, T, X, Y, 2)`, `particles (B, T, X, Y, 1)`, `force (B, X, Y, 2)`, `t (B, T)`."""
    rng = np.random.default_rng(seed)
    x, y = GRIDS[2]
    vel, part, force = _rand(rng, n, t, x, y, 2), _rand(rng, n, t, x, y, 1), _rand(rng, n, x, y, 2)
    with h5py.File(path, "w") as f:
        f.create_dataset("velocity", data=vel, chunks=(1, 1, x, y, 2))
        f.create_dataset("particles", data=part, chunks=(1, 1, x, y, 1))
        f.create_dataset("force", data=force)
        f.create_dataset("t", data=np.tile(np.arange(t, dtype=np.float32) * dt, (n, 1)))
        f.attrs["config"] = "ns: 1\n"
        f.attrs["latestIndex"] = n
    canon = lambda a: np.moveaxis(a, -1, 2)  # (B, T, X, Y, C) -> (B, T, C, X, Y)  # noqa: E731
    return {"velocity": canon(vel), "particles": canon(part),
            "force": np.broadcast_to(np.moveaxis(force, -1, 1)[:, None], (n, t, 2, x, y)).copy()}


def write_pdebench_darcy(path: str, n: int = N) -> None:
    """`tensor (N, 1, X, Y)`, `nu (N, X, Y)`, coordinates, no `t-coordinate`."""
    rng = np.random.default_rng(0)
    x, y = GRIDS[2]
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=_rand(rng, n, 1, x, y))
        f.create_dataset("nu", data=_rand(rng, n, x, y))
        f.create_dataset("x-coordinate", data=_centres(x))
        f.create_dataset("y-coordinate", data=_centres(y))
        f.attrs["beta"] = 1.0


# --- PDEArena -----------------------------------------------------------------------------------
def write_pdearena_ns(path: str, n: int = N, t: int = T, seed: int = 0, dt: float = 1.5,
                      split: str = "train") -> dict[str, np.ndarray]:
    """Group `split` with `u`, `vx`, `vy` `(N, T, X, Y)` float64, `t (N, T)`, `x (N, X)`, `y (N, Y)`,
    `dt`, `dx`, `dy`, `buo_y (N,)`."""
    rng = np.random.default_rng(seed)
    x, y = GRIDS[2]
    u, vx, vy = (rng.standard_normal((n, t, x, y)) for _ in range(3))
    with h5py.File(path, "a") as f:
        g = f.create_group(split)
        for k, v in (("u", u), ("vx", vx), ("vy", vy)):
            g.create_dataset(k, data=v)
        g.create_dataset("t", data=np.tile(np.arange(t) * dt, (n, 1)))
        g.create_dataset("x", data=np.tile(np.linspace(0, 32, x, endpoint=False), (n, 1)))
        g.create_dataset("y", data=np.tile(np.linspace(0, 32, y, endpoint=False), (n, 1)))
        for k, v in (("dt", dt), ("dx", 32 / x), ("dy", 32 / y)):
            g.create_dataset(k, data=np.full(n, v))
        g.create_dataset("buo_y", data=np.full(n, 0.5))
    return {"u": u[:, :, None].astype(np.float32),
            "velocity": np.stack([vx, vy], axis=2).astype(np.float32)}


def write_pdearena_maxwell(path: str, n: int = N, t: int = T, seed: int = 0) -> dict[str, np.ndarray]:
    """Group `train` with `d_field`, `h_field` `(N, T, X, Y, Z, 3)`."""
    rng = np.random.default_rng(seed)
    d_field, h_field = (rng.standard_normal((n, t, *GRIDS[3], 3)) for _ in range(2))
    with h5py.File(path, "w") as f:
        f.create_dataset("train/d_field", data=d_field)
        f.create_dataset("train/h_field", data=h_field)
    return {"d_field": np.moveaxis(d_field, -1, 2).astype(np.float32),
            "h_field": np.moveaxis(h_field, -1, 2).astype(np.float32)}


# --- The Well -----------------------------------------------------------------------------------
def write_well(path: str, d: int = 2, n: int = N, t: int = T, seed: int = 0, dt: float = 0.25,
               bcs: Sequence[str] = ("PERIODIC", "WALL", "OPEN"), tensor: bool = True,
               constant: bool = True, name: str = "fixture_well") -> dict[str, np.ndarray]:
    """A Well file (docs/data_format.md): t0 `density` (N, T, *space); t1 `velocity`
    (N, T, *space, d); t2 `stress` (N, T, *space, d, d) if `tensor`; t0 `obstacle` (N, *space),
    not time-varying, if `constant`; parameter `Re`; one boundary group per axis."""
    rng = np.random.default_rng(seed)
    grid = GRIDS[d]
    axes = list(AXES[:d])
    density, velocity = _rand(rng, n, t, *grid), _rand(rng, n, t, *grid, d)
    stress, obstacle = _rand(rng, n, t, *grid, d, d), _rand(rng, n, *grid)
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": name, "grid_type": "cartesian", "n_spatial_dims": d,
                        "n_trajectories": n, "simulation_parameters": ["Re"], "Re": 100.0})
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = axes
        dims.create_dataset("time", data=(np.arange(t) * dt).astype(np.float32))
        dims["time"].attrs["sample_varying"] = False
        for a, g in zip(axes, grid):
            dims.create_dataset(a, data=np.linspace(0, 1, g, endpoint=False).astype(np.float32))
            dims[a].attrs.update({"sample_varying": False, "time_varying": False})
        bc = f.create_group("boundary_conditions")
        for a, g, kind in zip(axes, grid, bcs):
            sub = bc.create_group(f"{a}_{kind.lower()}")
            sub.attrs.update({"bc_type": kind, "associated_dims": [a], "associated_fields": [],
                              "sample_varying": False, "time_varying": False})
            mask = np.zeros(g, dtype=bool)
            mask[[0, -1]] = True
            sub.create_dataset("mask", data=mask)
        scalars = f.create_group("scalars")
        scalars.attrs["field_names"] = ["Re"]
        scalars.create_dataset("Re", data=np.float32(100.0))
        scalars["Re"].attrs.update({"sample_varying": False, "time_varying": False})
        groups = {k: f.create_group(f"t{k}_fields") for k in range(3)}
        entries = [(0, "density", density, True), (1, "velocity", velocity, True)]
        if tensor:
            entries.append((2, "stress", stress, True))
        if constant:
            entries.append((0, "obstacle", obstacle, False))
        for k, g in groups.items():
            g.attrs["field_names"] = [e[1] for e in entries if e[0] == k]
        for k, fname, values, varying in entries:
            ds = groups[k].create_dataset(fname, data=values)
            ds.attrs.update({"dim_varying": [True] * d, "sample_varying": True, "time_varying": varying})
            if k == 2:
                ds.attrs.update({"symmetric": False, "antisymmetric": False})
    out = {"density": density[:, :, None], "velocity": np.moveaxis(velocity, -1, 2)}
    if tensor:
        out["stress"] = np.moveaxis(stress.reshape(*stress.shape[:-2], d * d), -1, 2)
    if constant:
        out["obstacle"] = np.broadcast_to(obstacle[:, None, None], (n, t, 1, *grid)).copy()
    return out


# --- netCDF -------------------------------------------------------------------------------------
def write_netcdf(path: str, n: int = N, t: int = T, seed: int = 0, dt: float = 0.5,
                 sample_dim: Optional[str] = "traj") -> dict[str, np.ndarray]:
    """A 2D netCDF-4 file (h5netcdf): `rho, u, v, p (traj, time, x, y)` with coordinates
    time, x, y. Without `sample_dim` the variables are `(time, x, y)` and N = 1."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    x, y = GRIDS[2]
    lead = (sample_dim, "time") if sample_dim else ("time",)
    shape = (n, t, x, y) if sample_dim else (t, x, y)
    values = {k: _rand(rng, *shape) for k in ("rho", "u", "v", "p")}
    ds = xr.Dataset({k: ((*lead, "x", "y"), v) for k, v in values.items()},
                    coords={"time": np.arange(t) * dt, "x": np.arange(x) * 0.1, "y": np.arange(y) * 0.2},
                    attrs={"title": "fixture", "nu": 0.01})
    ds.to_netcdf(path, engine="h5netcdf")
    ex = {k: v if sample_dim else v[None] for k, v in values.items()}
    return {"rho": ex["rho"][:, :, None], "velocity": np.stack([ex["u"], ex["v"]], axis=2),
            "p": ex["p"][:, :, None]}


def write_pdegym_netcdf(path: str, n: int = N, t: int = T, seed: int = 0) -> np.ndarray:
    """PDEGym-style `velocity (N, T, C=3, X, Y)` with generic dim names, no coordinates."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    values = _rand(rng, n, t, 3, *GRIDS[2])
    xr.Dataset({"velocity": (("member_dim", "time_dim", "channel", "dim_x", "dim_y"), values)}).to_netcdf(
        path, engine="h5netcdf")
    return values


# --- plain arrays -------------------------------------------------------------------------------
def write_npy(path: str, shape: Sequence[int], seed: int = 0) -> np.ndarray:
    values = _rand(np.random.default_rng(seed), *shape)
    np.save(path, values)
    return values


def write_zarr(path: str, arrays: dict[str, np.ndarray], attrs: Optional[dict] = None) -> None:
    """A zarr v3 group with one array per key (a single array if `arrays` has key "")."""
    import zarr

    if "" in arrays:
        z = zarr.create_array(path, shape=arrays[""].shape, dtype=arrays[""].dtype, chunks=arrays[""].shape)
        z[...] = arrays[""]
        return
    g = zarr.open_group(path, mode="w")
    for k, v in arrays.items():
        a = g.create_array(k, shape=v.shape, dtype=v.dtype, chunks=v.shape)
        a[...] = v
    if attrs:
        g.attrs.update(attrs)


