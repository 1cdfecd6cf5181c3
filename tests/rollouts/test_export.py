import numpy as np
import pytest
import torch
import xarray as xr

from pde_data import DataError
from rollouts import save_xarray, to_xarray
from tests.conftest import make_dataset


def rollout_pair(grid, fields=(("p", 1), ("v", 2)), k=3):
    spec = make_dataset(n=1, t=2, grid=grid, fields=fields, spacing=tuple(0.5 * (i + 1) for i in range(len(grid))),
                        dt=0.25).spec
    canonical = (1,) * (3 - len(grid)) + grid
    pred = torch.randn(k, len(fields), 3, *canonical)
    true = torch.randn(k, len(fields), 3, *canonical)
    return spec, pred, true


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("grid", [(16,), (6, 5), (3, 4, 5)])
def test_export_round_trips_through_xarray(tmp_path, suffix, grid):
    spec, pred, true = rollout_pair(grid)
    ds = to_xarray(pred, true, spec, first_frame=4, attrs={"trajectory": 2, "teacher_forcing": False})
    path = save_xarray(ds, tmp_path / f"r{suffix}")
    back = xr.open_dataset(path, engine="h5netcdf") if suffix == ".nc" else xr.open_zarr(path)
    axes = spec.axis_names
    assert set(back.data_vars) == {"p_pred", "p_true", "v_pred", "v_true"}
    assert back["v_pred"].dims == ("time", "v_component", *axes)
    assert back.sizes["time"] == 3 and back.sizes["p_component"] == 1 and back.sizes["v_component"] == 2
    np.testing.assert_allclose(back["time"], [1.0, 1.25, 1.5])  # frames 4, 5, 6 x dt
    np.testing.assert_array_equal(back["step"], [1, 2, 3])
    np.testing.assert_allclose(back[axes[0]], 0.5 * np.arange(grid[0]))
    flat = lambda t: t.reshape(*t.shape[:2], *grid).numpy()  # noqa: E731  (K, C, *grid)
    np.testing.assert_array_equal(back["v_pred"].values, flat(pred[:, 1, :2]))
    np.testing.assert_array_equal(back["p_true"].values, flat(true[:, 0, :1]))
    assert back.attrs["trajectory"] == 2 and back.attrs["dataset"] == "toy"
    back.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"r{suffix}"]  # no temporary left behind


def test_saving_again_replaces_the_file_atomically(tmp_path):
    spec, pred, true = rollout_pair((6, 5))
    for suffix in (".nc", ".zarr"):
        path = tmp_path / f"r{suffix}"
        save_xarray(to_xarray(pred, true, spec), path)
        save_xarray(to_xarray(pred * 0, true, spec), path)
        back = xr.open_dataset(path, engine="h5netcdf") if suffix == ".nc" else xr.open_zarr(path)
        assert float(abs(back["p_pred"]).max()) == 0.0
        back.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "r.zarr"]


def test_a_batch_gets_a_sample_dim_and_no_spec_gives_default_names():
    pred = torch.randn(2, 4, 1, 1, 1, 1, 8)
    ds = to_xarray(pred)
    assert ds["field0_pred"].dims == ("sample", "time", "field0_component", "x")
    assert "field0_true" not in ds


def test_bad_paths_and_shapes_are_refused_by_name(tmp_path):
    spec, pred, true = rollout_pair((6, 5))
    ds = to_xarray(pred, true, spec)
    with pytest.raises(DataError, match="use a .nc or .zarr path"):
        save_xarray(ds, tmp_path / "r.csv")
    with pytest.raises(DataError, match="does not exist"):
        save_xarray(ds, tmp_path / "missing" / "r.nc")
    with pytest.raises(DataError, match="does not match the spec"):
        to_xarray(pred[:, :1], true[:, :1], spec)
