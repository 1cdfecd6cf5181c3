"""`export_well` and The Well interop, both ways, against the real `the_well` package.

The tests that need `the_well` skip without it; install it for tests with
`pip install --no-deps "the-well==1.2.0"` (it pins an old fsspec that would
break zarr; it imports only what the core already needs).
"""

import os

import numpy as np
import pytest

import pde_data
from pde_data import DataError
from pde_data.well_export import export_well
from tests.pde_data import fixtures as fx


@pytest.fixture
def source(tmp_path):
    """A 2D dataset with a scalar, a vector and a tensor field, from a plain .npy (not via the Well)."""
    values = fx.write_npy(str(tmp_path / "state.npy"), (2, 5, 7, 12, 10), seed=3)
    ds = pde_data.open(tmp_path / "state.npy", layout="N T C X Y",
                       fields={"density": 1, "velocity": 2, "stress": 4}, dt=0.5, spacing=(0.25, 0.125),
                       boundary_conditions=("periodic", "wall"), name="exported")
    return ds, values


def _well_dataset(directory, **kwargs):
    well = pytest.importorskip("the_well.data")
    return well.WellDataset(path=str(directory), use_normalization=False, **kwargs)


def test_export_then_open_gives_back_the_same_dataset(tmp_path, source):
    ds, values = source
    os.makedirs(tmp_path / "out")
    out = export_well(ds, tmp_path / "out" / "exported.hdf5")
    back = pde_data.open(out)
    s = back.spec
    assert s.format == "the_well" and s.name == "exported"
    assert s.fields == ds.spec.fields and s.grid_shape == (12, 10) and s.n_trajectories == 2
    assert s.dt == pytest.approx(0.5) and s.spacing == pytest.approx((0.25, 0.125))
    assert s.boundary_conditions == ("periodic", "wall")
    for i in range(2):
        got = back.read(i)
        np.testing.assert_array_equal(np.concatenate(list(got.values()), axis=1), values[i])
    assert sorted(os.listdir(tmp_path / "out")) == ["exported.hdf5"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask  # not the private mode of the temporary file


def test_export_refuses_fields_the_well_cannot_hold(tmp_path):
    p = str(tmp_path / "u.npy")
    fx.write_npy(p, (2, 5, 3, 12, 10))
    ds = pde_data.open(p, layout="N T C X Y", fields={"rgb": 3})
    with pytest.raises(DataError, match="'rgb' has 3 components on a 2D grid.*1 .*2 .*4"):
        export_well(ds, tmp_path / "x.hdf5")
    with pytest.raises(DataError, match="reads \\*.hdf5"):
        export_well(ds, tmp_path / "x.zarr")


def test_interrupted_export_leaves_nothing_behind(tmp_path, source):
    ds, _ = source

    class Broken(type(ds)):
        def read(self, i, time=slice(None)):
            if i == 1:
                raise KeyboardInterrupt
            return super().read(i, time)

    broken = Broken(ds.spec, ds.fields)
    with pytest.raises(KeyboardInterrupt):
        export_well(broken, tmp_path / "half.hdf5")
    assert [p for p in os.listdir(tmp_path) if p != "state.npy"] == []


def test_exported_file_loads_in_the_well(tmp_path, source):
    ds, values = source
    os.makedirs(tmp_path / "train")
    export_well(ds, tmp_path / "train" / "exported.hdf5")
    well = _well_dataset(tmp_path / "train", n_steps_input=2, n_steps_output=1)
    assert well.metadata.dataset_name == "exported"
    assert well.metadata.spatial_resolution == (12, 10)
    assert well.metadata.field_names == {0: ["density"], 1: ["velocity_x", "velocity_y"],
                                         2: ["stress_xx", "stress_xy", "stress_yx", "stress_yy"]}
    windows = 5 - 2  # per trajectory: T - n_in - n_out + 1
    assert len(well) == 2 * windows
    for index in (0, 4):
        i, t0 = divmod(index, windows)
        sample = well[index]
        channels_last = np.moveaxis(values[i], 1, -1)  # (T, C, X, Y) -> (T, X, Y, C)
        np.testing.assert_array_equal(sample["input_fields"].numpy(), channels_last[t0:t0 + 2])
        np.testing.assert_array_equal(sample["output_fields"].numpy(), channels_last[t0 + 2:t0 + 3])
    # BoundaryCondition codes: WALL = 0, OPEN = 1, PERIODIC = 2; rows are axes, columns sides
    np.testing.assert_array_equal(sample["boundary_conditions"].numpy(), [[2, 2], [0, 0]])
    np.testing.assert_allclose(sample["space_grid"][3, 2].numpy(), [0.75, 0.25])


def test_well_layout_file_reads_the_same_here_and_in_the_well(tmp_path):
    os.makedirs(tmp_path / "train")
    path = str(tmp_path / "train" / "sim.hdf5")
    fx.write_well(path, d=2, constant=True, tensor=True)
    well = _well_dataset(tmp_path / "train", n_steps_input=4, n_steps_output=1)
    ours = pde_data.open(path)
    assert len(well) == 2 and well.metadata.constant_field_names[0] == ["obstacle"]
    variable = ["density", "velocity", "stress"]
    for i in range(2):
        got = ours.read(i)
        sample = well[i]
        frames = np.concatenate([np.moveaxis(got[k], 1, -1) for k in variable], axis=-1)  # (T, X, Y, C)
        np.testing.assert_array_equal(sample["input_fields"].numpy(), frames[:4])
        np.testing.assert_array_equal(sample["output_fields"].numpy(), frames[4:])
        np.testing.assert_array_equal(sample["constant_fields"].numpy()[..., 0], got["obstacle"][0, 0])
    np.testing.assert_array_equal(sample["boundary_conditions"].numpy(), [[2, 2], [0, 0]])
    assert ours.spec.boundary_conditions == ("periodic", "wall")
