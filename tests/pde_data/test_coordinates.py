"""Coordinates are checked against the data they label (length, finite, strictly monotonic; time increasing) with
an error naming the file and the dataset: files in the real layouts of tests/pde_data/fixtures.py, then one
coordinate spoiled."""

import h5py
import numpy as np
import pytest

import pde_data
from pde_data import DataError
from tests.pde_data import fixtures as fx


def _replace(path, key, values):
    with h5py.File(path, "a") as f:
        del f[key]
        f.create_dataset(key, data=np.asarray(values))


def test_a_short_t_coordinate_is_refused_naming_the_file_and_the_frames(tmp_path):
    path = str(tmp_path / "1D_diffusion_Sols.hdf5")
    fx.write_pdebench_single(path, t=30)
    _replace(path, "t-coordinate", np.arange(10) * 0.01)
    with pytest.raises(DataError, match=r"1D_diffusion_Sols.hdf5: t-coordinate has 10 entries for the 30 frames "
                                        r"of `tensor`.*it needs 30 or 31"):
        pde_data.open(path)


@pytest.mark.parametrize("entries", [30, 31])
def test_a_t_coordinate_of_t_or_t_plus_one_entries_gives_dt(tmp_path, entries):
    path = str(tmp_path / "1D_diffusion_Sols.hdf5")
    fx.write_pdebench_single(path, t=30)
    _replace(path, "t-coordinate", np.arange(entries) * 0.02)
    assert pde_data.open(path).spec.dt == pytest.approx(0.02)


def test_a_missing_t_coordinate_is_our_error_not_h5py_text(tmp_path):
    path = str(tmp_path / "1D_diffusion_Sols.hdf5")
    fx.write_pdebench_single(path)
    with h5py.File(path, "a") as f:
        del f["t-coordinate"]
    with pytest.raises(DataError) as info:
        pde_data.open(path)
    assert "missing key 't-coordinate': the time stamps of the 5 frames of `tensor`" in str(info.value)
    assert "Unable to" not in str(info.value) and "synchronously" not in str(info.value)


def test_a_decreasing_space_coordinate_is_a_grid_in_reverse_order_and_is_accepted(tmp_path):
    path = str(tmp_path / "1D_diffusion_Sols.hdf5")
    fx.write_pdebench_single(path)
    _replace(path, "x-coordinate", np.linspace(1, 0, 12))
    assert pde_data.open(path).spec.spacing == (pytest.approx(-1 / 11),)


def _pdebench_single(path, key, values):
    fx.write_pdebench_single(path)
    _replace(path, key, values)


def _pdebench_cfd(path, key, values):
    fx.write_pdebench_cfd(path)
    _replace(path, key, values)


def _grouped(path, key, values):
    fx.write_pdebench_grouped(path)
    _replace(path, f"0000/grid/{key}", values)


def _ns_incom(path, key, values):
    fx.write_pdebench_ns_incom(path)
    _replace(path, key, np.tile(values, (fx.N, 1)))


def _pdearena(path, key, values):
    fx.write_pdearena_ns(path)
    _replace(path, f"train/{key}", np.tile(values, (fx.N, 1)))


def _well(path, key, values):
    fx.write_well(path)
    _replace(path, f"dimensions/{key}", values)


def _netcdf(path, key, values):
    import xarray as xr

    fx.write_netcdf(path + ".orig.nc")
    with xr.open_dataset(path + ".orig.nc", engine="h5netcdf") as ds:
        ds.load().assign_coords({key: values}).to_netcdf(path, engine="h5netcdf")


T, (X, Y) = fx.T, fx.GRIDS[2]


@pytest.mark.parametrize("name, write, key, values, message", [
    ("1D_Sols.hdf5", _pdebench_single, "t-coordinate", [0, 0.1, 0.3, 0.2, 0.4, 0.5],
     r"t-coordinate is not strictly increasing \(entries 2 and 3: 0.3, 0.2\)"),
    ("1D_Sols.hdf5", _pdebench_single, "x-coordinate", np.linspace(0, 1, 7),
     r"x-coordinate has 7 entries for the 12 cells along x of `tensor`"),
    ("1D_Sols.hdf5", _pdebench_single, "x-coordinate", [0, 1, 2, 3, 4, np.nan, 6, 7, 8, 9, 10, 11],
     r"x-coordinate has NaN/Inf entries \(at index 5\)"),
    ("2D_CFD_Rand_periodic.hdf5", _pdebench_cfd, "t-coordinate", np.arange(3) * 0.05,
     r"t-coordinate has 3 entries for the 5 frames of `density`"),
    ("2D_CFD_Rand_periodic.hdf5", _pdebench_cfd, "y-coordinate", [0, 1, 2, 3, 4, 3, 2, 1, 0, -1],
     r"y-coordinate is not strictly monotonic"),
    ("2D_diff-react_NA_NA.h5", _grouped, "t", np.arange(T + 1) * 0.05,
     r"0000/grid/t has 6 entries for the 5 frames of 0000/data"),
    ("ns_incom_inhom_2d_512-0.h5", _ns_incom, "t", np.arange(T - 1) * 0.1,
     r": t has 4 entries for the 5 frames of `velocity`"),
    ("NavierStokes2D_train_1_0.5.h5", _pdearena, "t", np.arange(T)[::-1] * 1.5,
     r"train/t is not strictly increasing \(entries 0 and 1: 6, 4.5\)"),
    ("NavierStokes2D_train_1_0.5.h5", _pdearena, "x", np.arange(X + 2), r"train/x has 14 entries for the 12 cells"),
    ("w.hdf5", _well, "time", [0.0, 0.25, 0.25, 0.5, 0.75], r"dimensions/time is not strictly increasing"),
    ("n.nc", _netcdf, "time", [0.0, 1.0, 0.5, 2.0, 3.0], r"n.nc: coordinate 'time' is not strictly increasing"),
    ("n.nc", _netcdf, "y", [0, 1, 2, 3, 9, 5, 6, 7, 8, 10], r"n.nc: coordinate 'y' is not strictly monotonic"),
])
def test_a_coordinate_that_does_not_fit_its_data_names_the_file_and_the_dataset(tmp_path, name, write, key, values,
                                                                                message):
    path = str(tmp_path / name)
    write(path, key, np.asarray(values, dtype=np.float64))
    with pytest.raises(DataError, match=message) as info:
        pde_data.open(path)
    assert name in str(info.value)
