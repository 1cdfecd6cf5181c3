import pickle

import numpy as np
import pytest

from pde_data import DataError, DatasetSpec, FieldSpec, LazyField, PDEDataset, compute_stats
from pde_data.layout import to_canonical_space
from tests.conftest import make_dataset


def test_spec_json_round_trip_keeps_everything():
    ds = make_dataset(dt=0.25, spacing=(0.1, 0.2), boundary_conditions=("periodic", "wall"),
                      source="a.h5", format="pdebench", attrs={"Nu": 0.01})
    spec = ds.spec
    spec.stats = compute_stats(ds)
    again = DatasetSpec.from_json(spec.to_json())
    assert again == spec
    assert again.stats["v"].mean == spec.stats["v"].mean
    assert again.boundary_conditions == ("periodic", "wall")


@pytest.mark.parametrize("kwargs, message", [
    (dict(grid_shape=(2, 3, 4, 5)), "1 to 3"),
    (dict(boundary_conditions=("periodic",)), "boundary conditions for 2"),
    (dict(boundary_conditions=("periodic", "reflecting")), "unknown boundary condition"),
    (dict(fields=[FieldSpec("a"), FieldSpec("a")]), "duplicate field"),
    (dict(fields=[]), "no fields"),
    (dict(n_steps=0), "at least one"),
])
def test_spec_rejects_bad_values_with_a_clear_message(kwargs, message):
    base = dict(name="d", grid_shape=(4, 4), fields=[FieldSpec("u")], n_trajectories=1, n_steps=2)
    with pytest.raises(DataError, match=message):
        DatasetSpec(**{**base, **kwargs})


def test_field_spec_rejects_zero_components():
    with pytest.raises(DataError, match="components"):
        FieldSpec("u", 0)


def test_dataset_reads_windows_and_canonical_frames():
    ds = make_dataset(n=3, t=6, grid=(5, 7), fields=(("p", 1), ("v", 2)))
    window = ds[1, 2:4]
    assert window["p"].shape == (2, 1, 5, 7) and window["v"].shape == (2, 2, 5, 7)
    np.testing.assert_array_equal(window["v"], ds.fields["v"][1, 2:4])
    frames, mask = ds.frames(1, slice(2, 4), n_components=3)
    assert frames.shape == (2, 2, 3, 1, 5, 7)  # (T, F, C, D, H, W)
    assert mask.tolist() == [[True, False, False], [True, True, False]]
    np.testing.assert_array_equal(frames[:, 1, :2, 0], ds.fields["v"][1, 2:4])
    assert (frames[:, 0, 1:] == 0).all()


def test_dataset_rejects_fields_with_inconsistent_shapes():
    spec = DatasetSpec("d", (4, 4), [FieldSpec("a"), FieldSpec("b")], 2, 3)
    arrays = {"a": np.zeros((2, 3, 1, 4, 4)), "b": np.zeros((2, 3, 1, 4, 5))}
    with pytest.raises(DataError, match="'b' has shape"):
        PDEDataset(spec, arrays)


def test_dataset_index_out_of_range_names_the_count():
    with pytest.raises(DataError, match="out of range for 4"):
        make_dataset(n=4).read(4)


@pytest.mark.parametrize("shape, n_dims, expect", [
    ((2, 9), 1, (2, 1, 1, 9)),
    ((2, 8, 9), 2, (2, 1, 8, 9)),
    ((2, 7, 8, 9), 3, (2, 7, 8, 9)),
])
def test_canonical_space_maps_1d_to_w_and_2d_to_hw(shape, n_dims, expect):
    assert to_canonical_space(np.zeros(shape), n_dims).shape == expect


def test_lazy_field_groups_components_and_reorders_axes():
    rng = np.random.default_rng(1)
    n, t, x, y = 2, 5, 6, 4
    vx, vy = rng.random((n, t, x, y)), rng.random((n, t, x, y))
    field = LazyField([vx, vy], "n t x y")
    assert field.shape == (n, t, 2, x, y)
    np.testing.assert_array_equal(field[1, 1:3][:, 1], vy[1, 1:3].astype(np.float32))
    last = rng.random((n, t, x, y, 2, 2))
    tensor = LazyField([last], "n t x y c c")
    assert tensor.shape == (n, t, 4, x, y)
    np.testing.assert_array_equal(tensor[0, :][:, 2], last[0, ..., 1, 0].astype(np.float32))
    const = rng.random((x, y))
    static = LazyField([const], "x y", n=n, t=t)
    assert static[1, 1:4].shape == (3, 1, x, y)


def test_lazy_field_rejects_a_layout_that_does_not_match():
    with pytest.raises(DataError, match="names 4 axes"):
        LazyField([np.zeros((2, 3, 4))], "n t x y")
    with pytest.raises(DataError, match="unknown axis letters"):
        LazyField([np.zeros((2, 3, 4))], "n t q")


def test_compute_stats_uses_magnitude_for_vectors_and_refuses_nan():
    ds = make_dataset(n=2, t=3, grid=(8,), fields=(("v", 2),))
    v = ds.fields["v"].astype(np.float64)
    stats = compute_stats(ds)["v"]
    mean = v.mean(axis=(0, 1, 3))
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-10)
    dev = v - mean[None, None, :, None]
    np.testing.assert_allclose(stats.std, np.sqrt((dev**2).sum(axis=2).mean()), rtol=1e-10)
    ds.fields["v"][1, 2, 0, 3] = np.nan
    with pytest.raises(DataError, match="NaN/Inf in trajectory 1"):
        compute_stats(ds)


def test_in_memory_dataset_pickles():
    ds = make_dataset()
    again = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(again[0]["v"], ds[0]["v"])
