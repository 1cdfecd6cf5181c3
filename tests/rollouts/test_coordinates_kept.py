"""A file's coordinates kept through the spec, convert, the rollout export and the plots' axes."""

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import pde_data
from morph.cli import main
from rollouts import plot_rollout, to_xarray
from tests.rollouts.helpers import tiny_model

CELLS, FRAMES = 16, 8
CENTRES = (np.arange(CELLS) + 0.5) / CELLS  # cell centres from 0.03125, not 0
TIMES = 0.5 + 0.1 * np.arange(FRAMES + 1)  # PDEBench's T + 1 stamps, from t = 0.5


@pytest.fixture
def single(tmp_path):
    path = tmp_path / "1D_diffusion_Sols.hdf5"
    with h5py.File(path, "w") as f:
        f["tensor"] = np.random.default_rng(0).standard_normal((3, FRAMES, CELLS)).astype(np.float32)
        f["x-coordinate"] = CENTRES.astype(np.float32)
        f["t-coordinate"] = TIMES.astype(np.float32)
    return path


def test_the_spec_keeps_the_files_coordinates_through_convert(single, tmp_path):
    spec = pde_data.open(str(single)).spec
    np.testing.assert_allclose(spec.coordinates["x"], CENTRES, rtol=1e-6)
    np.testing.assert_allclose(spec.coordinates["time"], TIMES[:FRAMES], rtol=1e-6)
    assert spec.axis_values("x")[0] == pytest.approx(0.03125)
    assert "coordinates x 0.03125..0.96875, time 0.5..1.2" in spec.describe()
    pde_data.convert(str(single), tmp_path / "c.zarr", progress=False)
    assert pde_data.open(str(tmp_path / "c.zarr")).spec.coordinates == spec.coordinates
    assert pde_data.DatasetSpec.from_json(spec.to_json()) == spec


def test_a_coordinate_of_the_wrong_length_is_refused_by_the_spec():
    with pytest.raises(pde_data.DataError, match="3 coordinates for the 4 entries of 'x'"):
        pde_data.DatasetSpec(name="d", grid_shape=(4,), fields=({"name": "u"},), n_trajectories=1, n_steps=2,
                             coordinates={"x": (0.0, 1.0, 2.0)})


def test_morph_rollout_exports_the_files_coordinates_and_times(single, tmp_path):
    model = tiny_model(max_ar=2)
    model.metadata = {"train_config": {"history": 2}}
    checkpoint = str(model.save_pretrained(tmp_path / "ckpt"))
    out = tmp_path / "r.nc"
    main(["rollout", "--checkpoint", checkpoint, "--data", str(single), "--steps", "3", "--traj", "1",
          "--start", "1", "--out", str(out)])
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_allclose(ds["x"].values, CENTRES, rtol=1e-6)  # not 0, 0.0625, ...
        np.testing.assert_allclose(ds["time"].values, TIMES[3:6], rtol=1e-6)  # frames 3..5 after history 1..2
        assert ds["x"].attrs["source"] == "coordinates of the dataset"


def test_plots_label_their_axes_with_the_axis_names_and_span_the_coordinates(single):
    spec = pde_data.open(str(single)).spec
    pred = torch.randn(3, 1, 1, 1, 1, CELLS)
    figure = plot_rollout(pred, pred + 0.1, spec=spec)
    first = figure.axes[0]
    assert first.get_xlabel() == "x" and first.get_ylabel() == "step"
    low, high = first.get_xlim()
    assert low == pytest.approx(0.0, abs=1e-6) and high == pytest.approx(1.0, abs=1e-6)  # cell edges


def test_a_netcdf_files_units_label_the_export_and_the_plot(tmp_path):
    x, y = np.linspace(0.1, 0.9, 5), np.linspace(-1.0, 1.0, 4)
    data = xr.Dataset({"u": (("time", "x", "y"), np.random.default_rng(1).standard_normal((3, 5, 4)))},
                      coords={"time": ("time", [10.0, 10.5, 11.0], {"units": "s"}),
                              "x": ("x", x, {"units": "m"}), "y": ("y", y, {"units": "m"})})
    data.to_netcdf(tmp_path / "d.nc", engine="h5netcdf")
    spec = pde_data.open(str(tmp_path / "d.nc")).spec
    assert spec.coordinate_units == {"x": "m", "y": "m", "time": "s"}
    pred = torch.randn(2, 1, 1, 1, 5, 4)
    exported = to_xarray(pred, pred, spec, first_frame=1)
    np.testing.assert_allclose(exported["y"].values, y)
    np.testing.assert_allclose(exported["time"].values, [10.5, 11.0])
    assert exported["x"].attrs["units"] == "m" and exported["time"].attrs["units"] == "s"
    figure = plot_rollout(pred, pred, spec=spec, steps=[0])
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("x [m]", "y [m]")
