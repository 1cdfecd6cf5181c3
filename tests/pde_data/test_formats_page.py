"""docs/formats.md, the users' page of layouts: every reader is on it, and every error that says a file was not
understood points there (files written in the real layouts of tests/pde_data/fixtures.py)."""

from pathlib import Path

import h5py
import numpy as np
import pytest

import pde_data
from pde_data import DataError
from pde_data.errors import FORMATS_PAGE
from tests.pde_data import fixtures as fx

PAGE = Path(__file__).resolve().parents[2] / FORMATS_PAGE


def test_the_formats_page_exists_and_has_a_section_per_reader():
    text = PAGE.read_text()
    for name in pde_data.READERS:
        assert f"(`{name}`" in text, f"{FORMATS_PAGE} has no section for the {name} reader"


def test_no_code_comment_points_to_a_file_users_do_not_have():
    root = PAGE.parents[1]
    old = "FORMATS" + ".md"  # not spelled out: this file would find itself
    for path in [*(root / "pde_data").rglob("*.py"), *(root / "tests").rglob("*.py")]:
        assert old not in path.read_text(), f"{path} names {old}; point to {FORMATS_PAGE}"


def _not_pdebench(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("solution", data=np.zeros((2, 3, 4), np.float32))


def _bad_well(path):
    fx.write_well(path)
    with h5py.File(path, "a") as f:
        del f["dimensions/time"]


def _bad_pdearena(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("train/rho", data=np.zeros((2, 3, 4, 4)))


def _netcdf_without_time(path):
    import xarray as xr

    xr.Dataset({"u": (("n", "x"), np.zeros((2, 4), np.float32))}).to_netcdf(path, engine="h5netcdf")


def _unnamed_zarr(path):
    fx.write_zarr(path, {"u": np.zeros((2, 3, 4), np.float32)})


@pytest.mark.parametrize("name, write, options", [
    ("notes.txt", lambda p: p.write_text("hello"), {}),
    ("solution.h5", _not_pdebench, {"format": "pdebench"}),
    ("broken.hdf5", lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64), {"format": "pdebench"}),
    ("well.hdf5", _bad_well, {}),
    ("arena.h5", _bad_pdearena, {"format": "pdearena"}),
    ("no_time.nc", _netcdf_without_time, {}),
    ("plain.zarr", _unnamed_zarr, {}),
    ("v.npy", lambda p: fx.write_npy(p, (2, 5, 12)), {}),
    ("v.npy", lambda p: fx.write_npy(p, (2, 5, 12)), {"layout": "N T Q"}),
])
def test_a_file_that_is_not_understood_names_the_formats_page(tmp_path, name, write, options):
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError, match=FORMATS_PAGE):
        pde_data.open(path, **options)
