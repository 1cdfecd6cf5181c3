"""Reader options are checked against what the chosen reader takes: an unknown key is a DataError that lists the
valid ones (was: a TypeError from deep inside the reader), and every option is on the formats page."""

import re
from pathlib import Path

import numpy as np
import pytest

import pde_data
from pde_data import DataError
from pde_data.errors import FORMATS_PAGE
from tests.pde_data import fixtures as fx

PAGE = Path(__file__).resolve().parents[2] / FORMATS_PAGE


def _npy(path):
    fx.write_npy(path, (2, 5, 12))


def _store(path):
    _npy(path.with_suffix(".npy"))
    pde_data.convert(path.with_suffix(".npy"), path, layout="N T X", progress=False)


def _xarray_zarr(path):
    import xarray as xr

    fx.write_netcdf(path.with_suffix(".nc"))
    xr.open_dataset(path.with_suffix(".nc"), engine="h5netcdf").to_zarr(path, consolidated=False)


#: A file in each reader's real layout, and the options that open it.
FILES = {
    "store": ("s.zarr", _store, {}),
    "the_well": ("w.hdf5", fx.write_well, {}),
    "pdebench": ("1D_Advection_Sols_beta0.4.hdf5", fx.write_pdebench_single, {}),
    "pdearena": ("NavierStokes2D_train_1_0.5.h5", fx.write_pdearena_ns, {}),
    "netcdf": ("n.nc", fx.write_netcdf, {}),
    "xarray_zarr": ("x.zarr", _xarray_zarr, {}),
    "arrays": ("a.npy", _npy, {"layout": "N T X"}),
}


def test_every_reader_has_a_file_here():
    assert set(FILES) == set(pde_data.READERS)


@pytest.mark.parametrize("reader", list(FILES))
def test_an_unknown_option_is_a_data_error_listing_the_readers_options(tmp_path, reader):
    name, write, options = FILES[reader]
    path = tmp_path / name
    write(path)
    assert pde_data.READERS[reader].sniff(str(path)) and len(pde_data.open(path, **options)) == 2
    with pytest.raises(DataError) as info:
        pde_data.open(path, foo=1, **options)
    message = str(info.value)
    assert f"the {reader} reader has no option foo" in message and name in message and FORMATS_PAGE in message
    assert ("its options: " + (", ".join(pde_data.READERS[reader].option_names) or "none")) in message
    with pytest.raises(DataError, match="has no option foo"):  # the same when the format is named
        pde_data.open(path, format=reader, foo=1, **options)


def test_an_xarray_dataset_in_memory_checks_its_options_too():
    import xarray as xr

    ds = xr.Dataset({"u": (("time", "x"), np.zeros((3, 4), np.float32))})
    with pytest.raises(DataError, match="xarray dataset: .*has no option engine"):
        pde_data.open(ds, engine="h5netcdf")


def test_every_option_of_every_reader_is_on_the_formats_page():
    documented = set(re.findall(r"^\| `(\w+)`", PAGE.read_text(), flags=re.M))
    for reader in pde_data.READERS.values():
        missing = set(reader.option_names) - documented
        assert not missing, f"{FORMATS_PAGE} does not document the {reader.name} options {sorted(missing)}"
