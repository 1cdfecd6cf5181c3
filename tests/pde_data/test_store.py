import os

import numpy as np
import pytest

import pde_data
from pde_data import DataError
from pde_data.store import is_store
from tests.conftest import make_dataset


def test_convert_round_trip_keeps_values_exactly_and_records_stats(tmp_path):
    ds = make_dataset(n=3, t=5, grid=(4, 6, 5), fields=(("c", 1), ("u", 3)), dt=0.5,
                      boundary_conditions=("periodic",) * 3, source="orig.h5", format="pdebench")
    store = pde_data.convert(ds, tmp_path / "toy.zarr", progress=False)
    again = pde_data.open(tmp_path / "toy.zarr")
    assert again.spec.format == ds.spec.format and again.spec.source == ds.spec.source
    assert again.spec.field_names == ["c", "u"] and again.spec.components == [1, 3]
    assert again.spec.dt == 0.5 and again.spec.boundary_conditions == ("periodic",) * 3
    for i in range(3):
        for name in ("c", "u"):
            np.testing.assert_array_equal(again[i][name], ds.fields[name][i])
    assert set(store.spec.stats) == {"c", "u"}
    np.testing.assert_allclose(store.spec.stats["c"].mean[0], ds.fields["c"].astype(np.float64).mean(),
                               rtol=1e-9)


def test_store_is_chunked_by_trajectory_for_random_window_access(tmp_path):
    import zarr

    pde_data.convert(make_dataset(n=2, t=6), tmp_path / "s.zarr", progress=False)
    arr = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["fields/v"]
    assert arr.shape == (2, 6, 2, 6, 5)
    assert arr.chunks[0] == 1 and arr.chunks[2:] == (2, 6, 5)


def test_convert_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "s.zarr"
    pde_data.convert(make_dataset(seed=1), out, progress=False)
    with pytest.raises(DataError, match="already exists"):
        pde_data.convert(make_dataset(seed=2), out, progress=False)
    pde_data.convert(make_dataset(seed=2), out, overwrite=True, progress=False)
    np.testing.assert_array_equal(pde_data.open(out)[0]["p"], make_dataset(seed=2)[0]["p"])


def test_interrupted_convert_leaves_nothing_that_looks_like_a_store(tmp_path):
    ds = make_dataset(n=4)
    ds.fields["v"][3, 1, 0, 0, 0] = np.inf  # fails on the last trajectory, mid-write
    with pytest.raises(DataError, match="NaN/Inf in trajectory 3"):
        pde_data.convert(ds, tmp_path / "bad.zarr", progress=False)
    assert os.listdir(tmp_path) == []


def test_is_store_is_false_for_other_paths(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"0")
    assert not is_store(str(tmp_path / "x.npy"))
    assert not is_store(str(tmp_path))


def test_open_missing_path_and_unknown_format_are_clear(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        pde_data.open(tmp_path / "nope.h5")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="format not recognised"):
        pde_data.open(tmp_path / "x.txt")
    with pytest.raises(DataError, match="unknown format 'grib'"):
        pde_data.open(tmp_path / "x.txt", format="grib")


def test_a_store_opens_from_an_fsspec_url(tmp_path):
    ds = make_dataset(n=2, t=3)
    pde_data.convert(ds, tmp_path / "u.zarr", progress=False)
    again = pde_data.open(f"file://{tmp_path / 'u.zarr'}")
    np.testing.assert_array_equal(again[1, 1:3]["v"], ds.fields["v"][1, 1:3])
