"""Readers on files written in the real source layouts (tests/pde_data/fixtures.py)."""

import pickle

import h5py
import numpy as np
import pytest
import xarray as xr

import pde_data
from pde_data import DataError, compute_stats
from pde_data.readers import READERS
from pde_data.readers.netcdf import from_xarray
from tests.pde_data import fixtures as fx

GRIDS = fx.GRIDS


def assert_values(ds, expected):
    assert ds.spec.field_names == list(expected)
    for i in range(len(ds)):
        got = ds.trajectory(i)
        for name, want in expected.items():
            np.testing.assert_array_equal(got[name], want[i])


def assert_window(ds, expected, i=1, time=slice(1, 4)):
    got = ds.read(i, time)
    for name, want in expected.items():
        assert got[name].shape == want[i, time].shape
        np.testing.assert_array_equal(got[name], want[i, time])


def assert_pickles(ds, expected):
    again = pickle.loads(pickle.dumps(ds))
    assert again.spec == ds.spec
    assert_window(again, expected, i=0, time=slice(2, 5))


# --- registry -----------------------------------------------------------------------------------
def test_every_reader_is_registered():
    assert {"the_well", "pdebench", "netcdf", "arrays"} <= set(READERS)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        pde_data.open(tmp_path / "nope.h5")


def test_unknown_format_name_lists_the_readers(tmp_path):
    p = tmp_path / "a.npy"
    fx.write_npy(p, (2, 5, 12))
    with pytest.raises(DataError, match="unknown format 'grib'.*pdebench"):
        pde_data.open(p, format="grib")


def test_unrecognised_file_asks_for_a_format(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(DataError, match="format not recognised"):
        pde_data.open(p)


def test_corrupt_hdf5_is_a_data_error_not_an_oserror(tmp_path):
    p = tmp_path / "broken.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    for fmt in ("pdebench", "the_well"):
        with pytest.raises(DataError, match="broken.h5.*cannot be opened as HDF5"):
            pde_data.open(p, format=fmt)


# --- PDEBench -----------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3])
def test_pdebench_single_array_file(tmp_path, d):
    p = str(tmp_path / "1D_Advection_Sols_beta0.4.hdf5")
    expected = fx.write_pdebench_single(p, d=d)
    ds = pde_data.open(p)
    s = ds.spec
    assert s.format == "pdebench" and s.source == p and s.name == "1D_Advection_Sols_beta0.4"
    assert (s.n_trajectories, s.n_steps, s.grid_shape) == (2, 5, GRIDS[d])
    assert s.components == [1]
    assert s.dt == pytest.approx(0.01)  # first T of the T + 1 time stamps
    assert s.spacing == pytest.approx([1 / g for g in GRIDS[d]])
    assert s.boundary_conditions == ("periodic",) * d
    assert s.attrs == {"beta": pytest.approx(0.4)} and s.stats == {}
    assert_values(ds, expected)
    assert_window(ds, expected)
    assert isinstance(ds.fields["u"].sources[0], h5py.Dataset)  # lazy: nothing read into memory
    assert_pickles(ds, expected)


def test_pdebench_single_array_field_can_be_renamed(tmp_path):
    p = str(tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5")
    expected = fx.write_pdebench_single(p)
    ds = pde_data.open(p, fields=["c"])
    assert ds.spec.field_names == ["c"]
    np.testing.assert_array_equal(ds.read(0)["c"], expected["u"][0])


@pytest.mark.parametrize("d, bc_word, bc", [(1, "trans", "open"), (2, "periodic", "periodic"),
                                            (3, "periodic", "periodic")])
def test_pdebench_cfd_velocity_components_are_one_vector_field(tmp_path, d, bc_word, bc):
    p = str(tmp_path / f"{d}D_CFD_Rand_Eta0.1_Zeta0.1_{bc_word}_Train.hdf5")
    expected = fx.write_pdebench_cfd(p, d=d)
    ds = pde_data.open(p)
    s = ds.spec
    assert [(f.name, f.components) for f in s.fields] == [("density", 1), ("pressure", 1), ("velocity", d)]
    assert s.grid_shape == GRIDS[d] and s.boundary_conditions == (bc,) * d
    assert s.dt == pytest.approx(0.05)
    assert s.attrs == {"eta": pytest.approx(0.1), "zeta": pytest.approx(0.1), "M": 1.0}
    assert_values(ds, expected)
    assert_pickles(ds, expected)


def test_pdebench_cfd_with_missing_velocity_component_is_refused(tmp_path):
    p = str(tmp_path / "2D_CFD_Rand_periodic_Train.hdf5")
    fx.write_pdebench_cfd(p, d=2)
    with h5py.File(p, "a") as f:
        del f["Vy"]
    with pytest.raises(DataError, match="velocity components.*missing \\['Vy'\\]"):
        pde_data.open(p)


def test_pdebench_grouped_diff_react_channels_are_u_and_v(tmp_path):
    p = str(tmp_path / "2D_diff-react_NA_NA.h5")
    data = fx.write_pdebench_grouped(p, channels=2)
    ds = pde_data.open(p)
    s = ds.spec
    assert s.format == "pdebench" and (s.n_trajectories, s.n_steps, s.grid_shape) == (2, 5, (12, 10))
    assert [(f.name, f.components) for f in s.fields] == [("u", 1), ("v", 1)]
    assert s.dt == pytest.approx(0.05) and s.spacing == pytest.approx([2 / 11, 2 / 9])
    assert s.boundary_conditions == ("unknown", "unknown")
    canon = np.moveaxis(data, -1, 2)  # (N, T, X, Y, C) -> (N, T, C, X, Y)
    expected = {"u": canon[:, :, :1], "v": canon[:, :, 1:]}
    assert_values(ds, expected)
    assert_window(ds, expected)
    assert_pickles(ds, expected)


def test_pdebench_grouped_channels_can_form_a_vector(tmp_path):
    p = str(tmp_path / "2D_diff-react_NA_NA.h5")
    data = fx.write_pdebench_grouped(p, channels=2)
    ds = pde_data.open(p, fields={"velocity": 2})
    assert ds.spec.components == [2]
    np.testing.assert_array_equal(ds.read(1)["velocity"], np.moveaxis(data[1], -1, 1))
    with pytest.raises(DataError, match="cover 3 channels but the data has 2"):
        pde_data.open(p, fields={"velocity": 2, "tracer": 1})


def test_pdebench_grouped_rdb_is_water_height(tmp_path):
    p = str(tmp_path / "2D_rdb_NA_NA.h5")
    data = fx.write_pdebench_grouped(p, channels=1)
    ds = pde_data.open(p)
    assert ds.spec.field_names == ["height"]
    np.testing.assert_array_equal(ds.read(0, slice(0, 2))["height"], np.moveaxis(data[0, :2], -1, 1))


def test_pdebench_grouped_1d_diff_sorp(tmp_path):
    p = str(tmp_path / "1D_diff-sorp_NA_NA.h5")
    data = fx.write_pdebench_grouped(p, d=1, channels=1)
    ds = pde_data.open(p)
    assert ds.spec.grid_shape == (12,) and ds.spec.field_names == ["u"]
    np.testing.assert_array_equal(ds.read(1)["u"], np.moveaxis(data[1], -1, 1))


def test_pdebench_grouped_samples_of_different_shapes_are_refused(tmp_path):
    p = str(tmp_path / "2D_diff-react_NA_NA.h5")
    fx.write_pdebench_grouped(p, channels=2)
    with h5py.File(p, "a") as f:
        del f["0001/data"]
        f["0001"].create_dataset("data", data=np.zeros((4, 12, 10, 2), np.float32))
    with pytest.raises(DataError, match="differ in shape"):
        pde_data.open(p)


def test_pdebench_incompressible_ns_force_is_broadcast_in_time(tmp_path):
    p = str(tmp_path / "ns_incom_inhom_2d_512-0.h5")
    expected = fx.write_pdebench_ns_incom(p)
    ds = pde_data.open(p)
    assert [(f.name, f.components) for f in ds.spec.fields] == [("velocity", 2), ("particles", 1), ("force", 2)]
    assert ds.spec.dt == pytest.approx(0.005)
    assert_values(ds, expected)
    assert_window(ds, expected)
    assert pde_data.open(p, include_force=False).spec.field_names == ["velocity", "particles"]


def test_pdebench_darcy_is_refused_as_steady_state(tmp_path):
    p = str(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    fx.write_pdebench_darcy(p)
    with pytest.raises(DataError, match="Darcy.*steady-state input -> output"):
        pde_data.open(p)


def test_pdebench_key_that_is_not_there(tmp_path):
    p = str(tmp_path / "1D_Advection_Sols_beta0.4.hdf5")
    fx.write_pdebench_single(p)
    with h5py.File(p, "a") as f:
        del f["t-coordinate"]
    with pytest.raises(DataError, match="missing key.*t-coordinate"):
        pde_data.open(p)


def test_pdebench_nan_in_first_frame_is_caught_on_open_and_later_by_stats(tmp_path):
    late, early = (str(tmp_path / f"{k}_Advection_Sols_beta0.4.hdf5") for k in ("1D", "2D"))
    for p in (late, early):
        fx.write_pdebench_single(p)
    with h5py.File(late, "a") as f:
        f["tensor"][1, 3, 4] = np.inf
    with h5py.File(early, "a") as f:
        f["tensor"][0, 0, 0] = np.nan
    ds = pde_data.open(late)  # trajectory 1, frame 3: not in the cheap check
    with pytest.raises(DataError, match="'u' has NaN/Inf in trajectory 1"):
        compute_stats(ds)
    with pytest.raises(DataError, match="2D_Advection_Sols_beta0.4.hdf5: field 'u' has NaN/Inf in the first"):
        pde_data.open(early)


# --- netCDF -------------------------------------------------------------------------------------
def test_netcdf_defaults_find_dims_and_group_u_v_into_velocity(tmp_path):
    p = str(tmp_path / "flow.nc")
    expected = fx.write_netcdf(p)
    ds = pde_data.open(p)
    s = ds.spec
    assert s.format == "netcdf" and s.name == "flow"
    assert [(f.name, f.components) for f in s.fields] == [("rho", 1), ("velocity", 2), ("p", 1)]
    assert (s.n_trajectories, s.n_steps, s.grid_shape, s.axis_names) == (2, 5, (12, 10), ("x", "y"))
    assert s.dt == pytest.approx(0.5) and s.spacing == pytest.approx([0.1, 0.2])
    assert s.attrs["nu"] == pytest.approx(0.01) and s.boundary_conditions == ("unknown", "unknown")
    assert_values(ds, expected)
    assert_window(ds, expected)
    assert_pickles(ds, expected)


def test_vector_components_group_whatever_their_order_and_a_field_name_is_not_taken_twice():
    from pde_data.readers.netcdf import _group_vectors

    assert _group_vectors(["v", "h", "u"], 2) == {"velocity": ["u", "v"], "h": ["h"]}
    assert _group_vectors(["By", "rho", "Bx"], 2) == {"B": ["Bx", "By"], "rho": ["rho"]}
    assert _group_vectors(["u", "v", "velocity"], 2) == {"u": ["u"], "v": ["v"], "velocity": ["velocity"]}
    assert _group_vectors(["u", "v"], 1) == {"u": ["u"], "v": ["v"]}


def test_netcdf_without_sample_dim_is_one_trajectory(tmp_path):
    p = str(tmp_path / "single.nc")
    expected = fx.write_netcdf(p, sample_dim=None)
    ds = pde_data.open(p, boundary_conditions="periodic")
    assert len(ds) == 1 and ds.spec.boundary_conditions == ("periodic", "periodic")
    assert_values(ds, expected)


def test_netcdf_fields_option_groups_variables(tmp_path):
    p = str(tmp_path / "flow.nc")
    expected = fx.write_netcdf(p)
    ds = pde_data.open(p, fields={"momentum": ["u", "v"], "pressure": "p"})
    assert ds.spec.field_names == ["momentum", "pressure"]
    np.testing.assert_array_equal(ds.read(1)["momentum"], expected["velocity"][1])
    np.testing.assert_array_equal(ds.read(1)["pressure"], expected["p"][1])


def test_netcdf_fields_option_says_which_variables_it_leaves_out(tmp_path, caplog):
    p = str(tmp_path / "flow.nc")
    fx.write_netcdf(p)
    with caplog.at_level("INFO", logger="pde_data.readers.netcdf"):
        ds = pde_data.open(p, fields={"velocity": ["u", "v"]})
    assert ds.spec.field_names == ["velocity"]
    assert "not read: rho, p" in caplog.text


def test_netcdf_pdegym_channels_with_generic_dims(tmp_path):
    p = str(tmp_path / "NS-Sines.nc")
    values = fx.write_pdegym_netcdf(p)
    ds = pde_data.open(p, dims={"sample": "member_dim", "time": "time_dim", "space": ["dim_x", "dim_y"]},
                       channel_dim="channel", channels={"velocity": [0, 1], "tracer": [2]})
    assert [(f.name, f.components) for f in ds.spec.fields] == [("velocity", 2), ("tracer", 1)]
    assert ds.spec.axis_names == ("dim_x", "dim_y") and ds.spec.dt is None
    expected = {"velocity": values[:, :, :2], "tracer": values[:, :, 2:]}
    assert_values(ds, expected)
    assert_pickles(ds, expected)


def test_netcdf_generic_dims_without_options_ask_for_them(tmp_path):
    p = str(tmp_path / "NS-Sines.nc")
    fx.write_pdegym_netcdf(p)
    with pytest.raises(DataError, match="no time dim.*time_dim="):
        pde_data.open(p)


def test_netcdf_bad_options_name_the_argument(tmp_path):
    p = str(tmp_path / "flow.nc")
    fx.write_netcdf(p)
    with pytest.raises(DataError, match="no variable 'w'; variables are"):
        pde_data.open(p, fields={"velocity": ["u", "w"]})
    with pytest.raises(DataError, match="time_dim='when' is not a dim"):
        pde_data.open(p, time_dim="when")
    with pytest.raises(DataError, match="channels= needs channel_dim="):
        pde_data.open(p, channels={"a": [0]})


def test_xarray_dataset_in_memory_opens_the_same_way():
    rng = np.random.default_rng(0)
    vx, vy, vz = (rng.standard_normal((5, 12, 10, 6)).astype(np.float32) for _ in range(3))
    ds = xr.Dataset({n: (("t", "x", "y", "z"), v) for n, v in (("vx", vx), ("vy", vy), ("vz", vz))},
                    coords={"t": np.arange(5) * 0.1})
    out = from_xarray(ds)
    assert out.spec.fields == (pde_data.FieldSpec("velocity", 3),) and out.spec.grid_shape == (12, 10, 6)
    np.testing.assert_array_equal(out.read(0)["velocity"], np.stack([vx, vy, vz], axis=1))


# --- plain arrays -------------------------------------------------------------------------------
def test_npy_scalar_layout_is_memory_mapped(tmp_path):
    p = str(tmp_path / "u.npy")
    values = fx.write_npy(p, (2, 5, 12, 10))
    ds = pde_data.open(p, layout="N T X Y", dt=0.1, spacing=(0.5, 0.25), boundary_conditions="periodic")
    s = ds.spec
    assert s.format == "arrays" and s.fields == (pde_data.FieldSpec("u", 1),)
    assert (s.dt, s.spacing, s.boundary_conditions) == (0.1, (0.5, 0.25), ("periodic", "periodic"))
    assert isinstance(ds.fields["u"].sources[0], np.memmap)
    expected = {"u": values[:, :, None]}
    assert_values(ds, expected)
    assert_pickles(ds, expected)


def test_npy_channels_last_split_into_fields(tmp_path):
    p = str(tmp_path / "state.npy")
    values = fx.write_npy(p, (2, 5, 12, 10, 3))
    ds = pde_data.open(p, layout="N T X Y C", fields={"velocity": 2, "pressure": 1})
    canon = np.moveaxis(values, -1, 2)
    assert_values(ds, {"velocity": canon[:, :, :2], "pressure": canon[:, :, 2:]})
    assert_window(ds, {"velocity": canon[:, :, :2], "pressure": canon[:, :, 2:]})


def test_npy_stored_y_before_x_is_returned_in_x_y_order(tmp_path):
    p = str(tmp_path / "u.npy")
    values = fx.write_npy(p, (5, 10, 12))  # (T, Y, X)
    ds = pde_data.open(p, layout="T Y X")
    assert len(ds) == 1 and ds.spec.grid_shape == (12, 10)
    np.testing.assert_array_equal(ds.read(0)["u"], np.swapaxes(values, 1, 2)[:, None])


def test_npy_morph_padded_layout_drops_padding(tmp_path):
    p = str(tmp_path / "padded.npy")
    values = fx.write_npy(p, (2, 5, 2, 3, 1, 12, 10))
    ds = pde_data.open(p, layout="N T F C D H W", fields={"velocity": 2, "pressure": 1})
    assert ds.spec.grid_shape == (1, 12, 10) and ds.spec.axis_names == ("d", "h", "w")
    assert_values(ds, {"velocity": values[:, :, 0, :2], "pressure": values[:, :, 1, :1]})


def test_npy_already_canonical_is_used_directly(tmp_path):
    p = str(tmp_path / "v.npy")
    values = fx.write_npy(p, (2, 5, 2, 12, 10))
    ds = pde_data.open(p, layout="N T C X Y", fields={"velocity": 2})
    assert isinstance(ds.fields["velocity"], np.memmap)
    assert_values(ds, {"velocity": values})


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_one_array_per_field(tmp_path, compressed):
    p = str(tmp_path / "fields.npz")
    rng = np.random.default_rng(0)
    u = rng.standard_normal((2, 5, 12)).astype(np.float32)
    v = rng.standard_normal((2, 5, 12, 2)).astype(np.float64)
    (np.savez_compressed if compressed else np.savez)(p, u=u, v=v)
    ds = pde_data.open(p, layout={"u": "N T X", "v": "N T X C"})
    assert ds.spec.components == [1, 2]
    if not compressed:
        assert isinstance(ds.fields["u"].sources[0], np.memmap)
    assert_values(ds, {"u": u[:, :, None], "v": np.moveaxis(v, -1, 2).astype(np.float32)})
    only = pde_data.open(p, layout="N T X C", key="v", fields=["a", "b"])
    assert only.spec.field_names == ["a", "b"]


def test_zarr_array_and_group(tmp_path):
    rng = np.random.default_rng(1)
    h = rng.standard_normal((2, 5, 12, 10)).astype(np.float32)
    vel = rng.standard_normal((2, 5, 2, 12, 10)).astype(np.float32)
    fx.write_zarr(str(tmp_path / "h.zarr"), {"": h})
    ds = pde_data.open(tmp_path / "h.zarr", layout="N T X Y")
    assert ds.spec.format == "arrays"
    assert_values(ds, {"u": h[:, :, None]})
    fx.write_zarr(str(tmp_path / "g.zarr"), {"height": h, "velocity": vel})
    ds = pde_data.open(tmp_path / "g.zarr", layout={"height": "N T X Y", "velocity": "N T C X Y"},
                       fields=["velocity", "height"])
    assert ds.spec.field_names == ["velocity", "height"]
    assert_values(ds, {"velocity": vel, "height": h[:, :, None]})
    assert_pickles(ds, {"velocity": vel, "height": h[:, :, None]})


def test_zarr_group_with_store_attribute_is_not_taken_as_plain_arrays(tmp_path):
    from pde_data.readers import arrays

    fx.write_zarr(str(tmp_path / "s.zarr"), {"x": np.zeros((2, 5, 12), np.float32)},
                  attrs={"morph_pde_spec": {}})
    assert not arrays.sniff(str(tmp_path / "s.zarr"))


@pytest.mark.parametrize("layout, message", [
    (None, "layout= is required"),
    ("N T X", "names 3 axes but the array has 4"),
    ("N T X Y C", "names 5 axes but the array has 4"),
    ("N T Q Y", "unknown letters \\['Q'\\]"),
    ("N T X X", "repeats a letter"),
    ("N C X Y", "has no T axis"),
    ("N T X H", "mixes X Y Z with D H W"),
])
def test_bad_layouts_name_the_file_and_the_fix(tmp_path, layout, message):
    p = str(tmp_path / "u.npy")
    fx.write_npy(p, (2, 5, 12, 10))
    with pytest.raises(DataError, match=message) as err:
        pde_data.open(p, layout=layout)
    assert "u.npy" in str(err.value)


def test_array_with_too_many_dims_for_its_layout(tmp_path):
    p = str(tmp_path / "u.npy")
    np.save(p, np.zeros((2, 2, 2, 2, 2, 2), np.float32))
    with pytest.raises(DataError, match="names 5 axes but the array has 6; give one letter per axis"):
        pde_data.open(p, layout="N T X Y Z")


def test_inconsistent_field_shapes_and_missing_keys(tmp_path):
    p = str(tmp_path / "fields.npz")
    np.savez(p, a=np.zeros((2, 5, 12), np.float32), b=np.zeros((2, 4, 12), np.float32))
    with pytest.raises(DataError, match="field 'b' has shape .* all fields must share N, T and the grid"):
        pde_data.open(p, layout="N T X")
    with pytest.raises(DataError, match="no array 'c'; arrays are \\['a', 'b'\\]"):
        pde_data.open(p, layout="N T X", key="c")


# --- PDEArena -----------------------------------------------------------------------------------
def test_pdearena_navier_stokes_smoke_and_velocity(tmp_path):
    from pde_data.readers import pdearena

    p = str(tmp_path / "NavierStokes2D_train_1_0.5_2.h5")
    expected = fx.write_pdearena_ns(p)
    assert pdearena.sniff(p) and not READERS["pdebench"].sniff(p) and not READERS["the_well"].sniff(p)
    ds = pde_data.open(p, format="pdearena")
    s = ds.spec
    assert [(f.name, f.components) for f in s.fields] == [("u", 1), ("velocity", 2)]
    assert s.dt == pytest.approx(1.5) and s.spacing == pytest.approx([32 / 12, 32 / 10])
    assert s.attrs == {"split": "train"}
    assert_values(ds, expected)
    assert_pickles(ds, expected)
    both = str(tmp_path / "NavierStokes2D_both.h5")
    fx.write_pdearena_ns(both, split="train")
    fx.write_pdearena_ns(both, split="valid")
    with pytest.raises(DataError, match="holds splits \\['train', 'valid'\\]; pick one with split="):
        pde_data.open(both, format="pdearena")
    assert pde_data.open(both, format="pdearena", split="valid").spec.attrs == {"split": "valid"}


def test_pdearena_maxwell_two_vector_fields(tmp_path):
    from pde_data.readers import pdearena  # noqa: F401 - registers the reader

    p = str(tmp_path / "Maxwell3D_train.h5")
    expected = fx.write_pdearena_maxwell(p)
    ds = pde_data.open(p)
    assert ds.spec.format == "pdearena" and ds.spec.components == [3, 3] and ds.spec.grid_shape == (12, 10, 6)
    assert_values(ds, expected)


# --- The Well (reader; export and the_well interop in test_well_interop.py) ----------------------
@pytest.mark.parametrize("d", [1, 2, 3])
def test_well_file_fields_by_tensor_order(tmp_path, d):
    p = str(tmp_path / "sim.hdf5")
    expected = fx.write_well(p, d=d)
    ds = pde_data.open(p)
    s = ds.spec
    assert s.format == "the_well" and s.name == "fixture_well" and s.axis_names == tuple("xyz"[:d])
    assert [(f.name, f.components) for f in s.fields] == [
        ("density", 1), ("obstacle", 1), ("velocity", d), ("stress", d * d)]
    assert (s.n_trajectories, s.n_steps, s.grid_shape) == (2, 5, GRIDS[d])
    assert s.dt == pytest.approx(0.25) and s.spacing == pytest.approx([1 / g for g in GRIDS[d]])
    assert s.boundary_conditions == ("periodic", "wall", "open")[:d]
    assert s.attrs == {"Re": 100.0}
    expected = {k: expected[k] for k in s.field_names}
    assert_values(ds, expected)
    assert_window(ds, expected)
    assert_pickles(ds, expected)


def test_well_directory_concatenates_trajectories(tmp_path):
    a = fx.write_well(str(tmp_path / "a.hdf5"), seed=1)
    b = fx.write_well(str(tmp_path / "b.hdf5"), seed=2)
    ds = pde_data.open(tmp_path)
    assert len(ds) == 4 and ds.spec.source == str(tmp_path)
    expected = {k: np.concatenate([a[k], b[k]]) for k in ds.spec.field_names}
    assert_values(ds, expected)
    assert_pickles(ds, expected)


def test_well_directory_with_a_different_dataset_is_refused(tmp_path):
    fx.write_well(str(tmp_path / "a.hdf5"))
    fx.write_well(str(tmp_path / "b.hdf5"), tensor=False)
    with pytest.raises(DataError, match="b.hdf5: fields .* differ"):
        pde_data.open(tmp_path)


def test_well_non_varying_axes_are_broadcast_and_empty_bcs_are_open(tmp_path):
    p = str(tmp_path / "sim.hdf5")
    fx.write_well(p, tensor=False, constant=False)
    profile = np.arange(12, dtype=np.float32)
    with h5py.File(p, "a") as f:
        del f["boundary_conditions"]
        f.create_group("boundary_conditions")
        g = f["t0_fields"]
        g.attrs["field_names"] = ["density", "profile", "column"]
        ds = g.create_dataset("profile", data=profile)  # only x varies: y omitted, no N, no T
        ds.attrs.update({"dim_varying": [True, False], "sample_varying": False, "time_varying": False})
        ds = g.create_dataset("column", data=profile[:, None])  # y stored with length 1
        ds.attrs.update({"dim_varying": [True, False], "sample_varying": False, "time_varying": False})
    ds = pde_data.open(p)
    assert ds.spec.boundary_conditions == ("open", "open")
    want = np.broadcast_to(profile[None, None, :, None], (5, 1, 12, 10))
    np.testing.assert_array_equal(ds.read(1)["profile"], want)
    np.testing.assert_array_equal(ds.read(0, slice(2, 3))["column"], want[2:3])


def test_well_missing_group_is_a_data_error(tmp_path):
    p = str(tmp_path / "sim.hdf5")
    fx.write_well(p)
    with h5py.File(p, "a") as f:
        del f["dimensions"]
    with pytest.raises(DataError, match="sim.hdf5: missing key.*dimensions"):
        pde_data.open(p, format="the_well")


def test_auto_detection_picks_each_reader(tmp_path):
    paths = {"pdebench": tmp_path / "1D_Advection_Sols_beta0.4.hdf5", "the_well": tmp_path / "w.hdf5",
             "netcdf": tmp_path / "f.nc", "arrays": tmp_path / "a.npy"}
    fx.write_pdebench_single(str(paths["pdebench"]))
    fx.write_well(str(paths["the_well"]))
    fx.write_netcdf(str(paths["netcdf"]))
    fx.write_npy(str(paths["arrays"]), (2, 5, 12))
    for fmt, p in paths.items():
        options = {"layout": "N T X"} if fmt == "arrays" else {}
        spec = pde_data.open(p, **options).spec
        assert spec.format == fmt
        assert pde_data.DatasetSpec.from_json(spec.to_json()) == spec  # attrs are JSON-safe
        assert next(r for r in READERS.values() if r.sniff(str(p))).name == fmt
