"""Zarr stores written by xarray's `Dataset.to_zarr`: detected, read through the netCDF dim rules.

Every fixture is a real store written by the installed xarray and zarr (zarr v2 and v3 layouts,
consolidated or not); values are compared exactly with the numpy arrays they were written from.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from typer.testing import CliRunner

import pde_data
from pde_data import DataError, WindowDataset, collate
from pde_data.readers import xarray_zarr
from pde_data.store import is_store
from pde_data.testing import serve_directory

FAST = {"timeout": 2.0, "retries": 1, "backoff": 0.01}
FORMATS = [(3, True), (3, False), (2, True), (2, False)]  # (zarr_format, consolidated)
N, T, X, Y = 2, 5, 8, 6  # sizes that cannot be confused


def _to_zarr(ds: xr.Dataset, path: Path, zarr_format: int = 3, consolidated: bool = True) -> Path:
    with warnings.catch_warnings():  # zarr warns that v2 stores and consolidated v3 are not in the spec
        warnings.simplefilter("ignore")
        ds.to_zarr(path, zarr_format=zarr_format, consolidated=consolidated)
    return path


def _members_1d(seed: int = 0) -> tuple[xr.Dataset, np.ndarray]:
    """`u (member, time, x)`: 2 members x 5 times x 16 cells, dt 0.1 on [0, 1)."""
    u = np.random.default_rng(seed).standard_normal((2, 5, 16)).astype(np.float32)
    ds = xr.Dataset({"u": (("member", "time", "x"), u)},
                    coords={"time": np.arange(5) * 0.1, "x": np.arange(16) / 16.0})
    return ds, u


def _samples_2d(seed: int = 1) -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """`h, u, v (sample, t, y, x)` on a 6 x 8 grid; u, v form the velocity field."""
    rng = np.random.default_rng(seed)
    src = {k: rng.standard_normal((N, T, Y, X)).astype(np.float32) for k in ("h", "u", "v")}
    ds = xr.Dataset({k: (("sample", "t", "y", "x"), a) for k, a in src.items()},
                    coords={"t": 0.5 + 0.25 * np.arange(T), "x": np.arange(X) * 0.5, "y": np.arange(Y) * 2.0},
                    attrs={"dataset_name": "shallow_ocean"})
    return ds, src


def _expected_frames(src: dict[str, np.ndarray], n: int, t: slice) -> np.ndarray:
    """`(T, F, C, D, H, W)` frames of trajectory n: fields (h, velocity), C padded to 2, H = x, W = y."""
    h = src["h"][n, t].transpose(0, 2, 1)  # (T, Y, X) -> (T, X, Y)
    vel = np.stack([src["u"][n, t], src["v"][n, t]], 1).transpose(0, 1, 3, 2)  # (T, 2, X, Y)
    out = np.zeros((h.shape[0], 2, 2, 1, X, Y), np.float32)
    out[:, 0, 0, 0] = h
    out[:, 1, :, 0] = vel
    return out


@pytest.mark.parametrize("zarr_format,consolidated", FORMATS)
def test_members_time_x_store_opens_auto_detected_with_exact_values(tmp_path, zarr_format, consolidated):
    ds, u = _members_1d()
    path = _to_zarr(ds, tmp_path / "ensemble.zarr", zarr_format, consolidated)
    assert not is_store(str(path))
    opened = pde_data.open(path)
    spec = opened.spec
    assert spec.format == "xarray_zarr" and spec.name == "ensemble"
    assert (spec.n_trajectories, spec.n_steps, spec.grid_shape, spec.axis_names) == (2, 5, (16,), ("x",))
    assert spec.field_names == ["u"] and spec.components == [1]
    assert spec.dt == pytest.approx(0.1) and spec.spacing == pytest.approx((1 / 16,))
    for n in range(2):
        np.testing.assert_array_equal(opened.read(n)["u"], u[n][:, None])  # (T, C=1, X)


@pytest.mark.parametrize("zarr_format,consolidated", FORMATS)
def test_sample_t_y_x_store_batches_match_the_numpy_source(tmp_path, zarr_format, consolidated):
    ds, src = _samples_2d()
    opened = pde_data.open(_to_zarr(ds, tmp_path / "ocean.zarr", zarr_format, consolidated))
    spec = opened.spec
    assert spec.name == "shallow_ocean" and spec.axis_names == ("x", "y") and spec.grid_shape == (X, Y)
    assert [(f.name, f.components) for f in spec.fields] == [("h", 1), ("velocity", 2)]
    assert spec.dt == pytest.approx(0.25) and spec.spacing == pytest.approx((0.5, 2.0))
    windows = WindowDataset(opened, history=2, split="all")
    assert len(windows) == N * (T - 2)
    batch = collate([windows[k] for k in range(len(windows))])
    assert tuple(batch.x.shape) == (N * (T - 2), 2, 2, 2, 1, X, Y)  # (B, T, F, C, D, H, W)
    for b in range(len(windows)):
        n, start = int(batch.traj[b]), int(batch.start[b])
        frames = _expected_frames(src, n, slice(start, start + 3))
        np.testing.assert_array_equal(batch.x[b].numpy(), frames[:2])
        np.testing.assert_array_equal(batch.y[b].numpy(), frames[2])
    np.testing.assert_array_equal(batch.mask[0].numpy(), [[True, False], [True, True]])


def test_netcdf_dim_options_apply_to_zarr(tmp_path):
    """The netCDF reader's options: a time dim of another name, space dims in stored order, chosen fields."""
    rng = np.random.default_rng(2)
    h = rng.standard_normal((3, 4, Y, X)).astype(np.float32)
    ds = xr.Dataset({"h": (("run", "step", "y", "x"), h), "mask": (("y", "x"), np.ones((Y, X), np.float32))})
    path = _to_zarr(ds, tmp_path / "steps.zarr")
    with pytest.raises(DataError, match="no time dim.*time_dim="):
        pde_data.open(path)
    opened = pde_data.open(path, dims={"sample": "run", "time": "step", "space": ["y", "x"]}, fields=["h"])
    assert (len(opened), opened.spec.n_steps, opened.spec.grid_shape) == (3, 4, (Y, X))
    assert opened.spec.field_names == ["h"]
    np.testing.assert_array_equal(opened.read(2, slice(1, 3))["h"], h[2, 1:3, None])  # stored order kept


def test_climate_layout_datetime_time_lat_lon_and_bounds_variables(tmp_path):
    """`sst (ensemble, time, lat, lon)` with daily datetime time and a `time_bnds (time, nv)` that is no field."""
    sst = np.random.default_rng(3).standard_normal((2, 4, 3, 5)).astype(np.float32)
    days = np.array(["2000-01-01", "2000-01-02", "2000-01-03", "2000-01-04"], dtype="datetime64[ns]")
    ds = xr.Dataset({"sst": (("ensemble", "time", "lat", "lon"), sst), "time_bnds": (("time", "nv"), np.zeros((4, 2)))},
                    coords={"time": days, "lat": [-10.0, 0.0, 10.0], "lon": np.arange(5) * 2.5})
    opened = pde_data.open(_to_zarr(ds, tmp_path / "sst.zarr"))
    spec = opened.spec
    assert spec.field_names == ["sst"] and (len(opened), spec.n_steps) == (2, 4)
    assert spec.axis_names == ("lat", "lon") and spec.grid_shape == (3, 5)
    assert spec.dt == pytest.approx(86400.0) and spec.spacing == pytest.approx((10.0, 2.5))
    np.testing.assert_array_equal(opened.read(1)["sst"], sst[1][:, None])


def test_converted_to_the_canonical_store_and_told_apart(tmp_path):
    ds, src = _samples_2d()
    path = _to_zarr(ds, tmp_path / "ocean.zarr")
    out = tmp_path / "canonical.zarr"
    store = pde_data.convert(path, out, progress=False)
    assert is_store(str(out)) and not xarray_zarr.sniff(str(out))
    assert xarray_zarr.sniff(str(path)) and not is_store(str(path))
    assert pde_data.open(out).spec.stats and not pde_data.open(path).spec.stats  # the store's, from convert
    frames, _ = store.frames(1, slice(0, T))
    np.testing.assert_array_equal(frames, _expected_frames(src, 1, slice(0, T)))
    with pytest.raises(DataError, match="canonical morph-pde store; open it with format='store'"):
        pde_data.open(out, format="xarray_zarr")


def test_pickled_dataset_reopens_for_loader_workers(tmp_path):
    ds, u = _members_1d()
    opened = pde_data.open(_to_zarr(ds, tmp_path / "e.zarr", 2, True))
    again = pickle.loads(pickle.dumps(opened))
    np.testing.assert_array_equal(again.read(1, slice(2, 4))["u"], u[1, 2:4, None])


@pytest.mark.parametrize("zarr_format,dims_name", [(3, "dimension_names"), (2, "_ARRAY_DIMENSIONS")])
def test_zarr_without_dim_names_is_a_clear_error(tmp_path, zarr_format, dims_name):
    path = tmp_path / "plain.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    data = np.arange(2 * 5 * 16, dtype=np.float32).reshape(2, 5, 16)
    group.create_array("u", data=data)
    with pytest.raises(DataError) as err:
        pde_data.open(path)
    message = str(err.value)
    assert f"zarr v{zarr_format} group of arrays without dim names (no {dims_name}" in message
    assert "neither a canonical morph-pde store" in message and "Dataset.to_zarr" in message
    assert "layout=" in message and str(path) in message
    with pytest.raises(DataError, match="without dim names"):
        pde_data.open(path, format="xarray_zarr")
    plain = pde_data.open(path, layout="N T X")  # still the arrays reader's, with a layout
    assert plain.spec.format == "arrays"
    np.testing.assert_array_equal(plain.read(1)["u"], data[1][:, None])


def test_a_lone_zarr_array_is_named_as_such(tmp_path):
    path = tmp_path / "one.zarr"
    zarr.create_array(str(path), data=np.zeros((2, 5, 16), np.float32), zarr_format=2)
    with pytest.raises(DataError, match="zarr v2 array, not a group"):
        pde_data.open(path)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_consolidated_store_over_http_auto_detected_with_exact_values(tmp_path, zarr_format):
    ds, src = _samples_2d()
    _to_zarr(ds, tmp_path / "ocean.zarr", zarr_format, True)
    with serve_directory(tmp_path) as server:
        opened = pde_data.open(server.url("ocean.zarr"), remote=FAST)
        assert opened.spec.format == "xarray_zarr" and opened.remote
        assert opened.spec.grid_shape == (X, Y) and opened.spec.field_names == ["h", "velocity"]
        for n in range(N):
            frames, _ = opened.frames(n, slice(0, T))
            np.testing.assert_array_equal(frames, _expected_frames(src, n, slice(0, T)))
        worker = pickle.loads(pickle.dumps(opened))
        np.testing.assert_array_equal(worker.read(1, slice(3, 5))["h"], src["h"][1, 3:5, None].transpose(0, 1, 3, 2))


def test_chunks_over_http_come_from_the_cache_the_second_time(tmp_path, tmp_path_factory):
    ds, u = _members_1d()
    _to_zarr(ds, tmp_path / "e.zarr")
    remote = {**FAST, "cache_dir": str(tmp_path_factory.mktemp("cache"))}
    with serve_directory(tmp_path) as server:
        np.testing.assert_array_equal(pde_data.open(server.url("e.zarr"), remote=remote).read(1)["u"], u[1][:, None])
        again = pde_data.open(server.url("e.zarr"), remote=remote)
        before = server.requests
        np.testing.assert_array_equal(again.read(0)["u"], u[0][:, None])
        assert server.requests == before  # the one chunk was cached; metadata is asked again on open


def test_url_errors_say_which_zarr_it_is(tmp_path):
    ds, _ = _members_1d()
    _to_zarr(ds, tmp_path / "loose.zarr", 3, False)
    _to_zarr(ds, tmp_path / "loose2.zarr", 2, False)
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").create_array("u", data=np.zeros((2, 5, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(tmp_path / "plain.zarr"))  # listed over a URL, and still without dims
    with serve_directory(tmp_path) as server:
        for name in ("loose.zarr", "loose2.zarr"):
            with pytest.raises(DataError, match="without consolidated metadata.*zarr.consolidate_metadata"):
                pde_data.open(server.url(name), remote=FAST)
        with pytest.raises(DataError, match="zarr v3 group of arrays without dim names"):
            pde_data.open(server.url("plain.zarr"), remote=FAST)
        with pytest.raises(DataError, match="not found"):
            pde_data.open(server.url("nothing.zarr"), remote=FAST)


def test_cli_inspects_and_converts_an_xarray_zarr(tmp_path):
    from morph.cli import app

    ds, src = _samples_2d()
    path = _to_zarr(ds, tmp_path / "ocean.zarr", 2, True)
    runner = CliRunner()
    shown = runner.invoke(app, ["data", "inspect", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "trajectories 2" in shown.output and "velocity" in shown.output and "std" in shown.output
    out = tmp_path / "c.zarr"
    converted = runner.invoke(app, ["data", "convert", str(path), "--out", str(out)])
    assert converted.exit_code == 0, converted.output
    np.testing.assert_array_equal(pde_data.open(out).frames(0, slice(0, T))[0], _expected_frames(src, 0, slice(0, T)))
