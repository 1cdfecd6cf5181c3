"""Per-trajectory physical parameters and boundaries of every built-in simulator:
draws recorded in the spec (and in a converted store), pinned values, ranges, the
stable range enforced before any work, determinism, walls, stability at the extremes."""

from __future__ import annotations

import time

import numpy as np
import pytest

import pde_data
from pde_data.errors import DataError
from pde_data.simulators import SIMULATORS, check_parameters, generate
from pde_data.simulators import euler_1d, shallow_water_2d

ALL = sorted(SIMULATORS)
SMALL = {1: 32, 2: 16, 3: 8}  # a tiny resolution per dimensionality


def _small(name: str, **kwargs):
    sim = SIMULATORS[name]
    kwargs.setdefault("resolution", SMALL[sim.n_spatial_dims])
    return generate(name, **{"n_traj": 3, "steps": 3, "seed": 4, **kwargs})


def _per_trajectory(name: str):
    return [p for p in SIMULATORS[name].physics if p.per_trajectory]


@pytest.mark.parametrize("name", ALL)
def test_every_simulator_declares_its_physics_with_a_default_inside_the_stable_range(name):
    sim = SIMULATORS[name]
    assert sim.physics and "frame_dt" in sim.parameters
    assert sim.fields and sim.boundaries
    for p in sim.physics:
        low, high = p.default if isinstance(p.default, tuple) else (p.default, p.default)
        assert p.stable[0] <= low <= high <= p.stable[1], p


@pytest.mark.parametrize("name", ALL)
def test_default_draws_are_recorded_per_trajectory_within_the_default_range(name):
    ds = _small(name)
    recorded = ds.spec.attrs["trajectory_parameters"]
    assert set(recorded) == {p.name for p in _per_trajectory(name)}
    for p in _per_trajectory(name):
        values = np.array(recorded[p.name])
        assert values.shape == (3,)
        low, high = p.default if isinstance(p.default, tuple) else (p.default, p.default)
        assert ((low <= values) & (values <= high)).all()
        assert ds.spec.attrs[p.name] == (list(p.default) if isinstance(p.default, tuple) else p.default)
        if low < high:
            assert len(set(values)) == 3  # each trajectory its own physics


SHAPES_ITS_INITIAL_STATE = {"kdv_1d"}  # soliton widths follow the dispersion


@pytest.mark.parametrize("name", ALL)
def test_a_pinned_value_is_used_by_every_trajectory_and_leaves_the_initial_state_alone(name):
    p = _per_trajectory(name)[0]
    value = p.stable[0] + 0.37 * (p.stable[1] - p.stable[0])
    pinned = _small(name, **{p.name: value})
    default = _small(name)
    assert pinned.spec.attrs[p.name] == pytest.approx(value)
    np.testing.assert_allclose(pinned.spec.attrs["trajectory_parameters"][p.name], value, rtol=1e-12)
    if name in SHAPES_ITS_INITIAL_STATE:
        return
    for field, array in default.fields.items():
        np.testing.assert_array_equal(pinned.fields[field][:, 0], array[:, 0])


def test_a_range_draws_per_trajectory_and_pinning_one_parameter_keeps_the_others_draws():
    ds = generate("burgers_1d", n_traj=8, steps=2, resolution=32, seed=1, viscosity=[0.01, 0.1])
    drawn = np.array(ds.spec.attrs["trajectory_parameters"]["viscosity"])
    assert ds.spec.attrs["viscosity"] == [0.01, 0.1]
    assert ((0.01 <= drawn) & (drawn <= 0.1)).all() and drawn.std() > 0.005
    again = generate("burgers_1d", n_traj=8, steps=2, resolution=32, seed=1, viscosity=(0.01, 0.1))
    np.testing.assert_array_equal(again.fields["u"], ds.fields["u"])
    other_seed = generate("burgers_1d", n_traj=8, steps=2, resolution=32, seed=2, viscosity=(0.01, 0.1))
    assert other_seed.spec.attrs["trajectory_parameters"]["viscosity"] != list(drawn)


def test_the_drawn_viscosity_is_the_one_that_acted():
    """Each trajectory of a range run equals a pinned run with its recorded viscosity."""
    ds = generate("burgers_1d", n_traj=3, steps=4, resolution=32, seed=5, viscosity=(0.01, 0.2))
    for i, nu in enumerate(ds.spec.attrs["trajectory_parameters"]["viscosity"]):
        pinned = generate("burgers_1d", n_traj=3, steps=4, resolution=32, seed=5, viscosity=nu)
        np.testing.assert_allclose(pinned.fields["u"][i], ds.fields["u"][i], atol=1e-6)


def test_parameters_survive_convert_and_open(tmp_path):
    ds = generate("burgers_1d", n_traj=3, steps=3, resolution=16, seed=2)
    out = tmp_path / "b.zarr"
    pde_data.convert(ds, out, progress=False)
    back = pde_data.open(out).spec.attrs
    assert back["trajectory_parameters"] == ds.spec.attrs["trajectory_parameters"]
    assert back["viscosity"] == ds.spec.attrs["viscosity"]


@pytest.mark.parametrize("name", ALL)
def test_values_and_ranges_outside_the_stable_range_are_refused_naming_it(name):
    for p in SIMULATORS[name].physics:
        stable = rf"\[{p.stable[0]:g}, {p.stable[1]:g}\]"
        too_big = p.stable[1] * 2 + 1
        with pytest.raises(DataError, match=rf"{name}.*{p.name}=.* outside .*{stable}"):
            check_parameters(name, {p.name: too_big})
        if p.per_trajectory:
            with pytest.raises(DataError, match=rf"{p.name}=.* outside .*{stable}"):
                check_parameters(name, {p.name: [p.stable[0], too_big]})
        else:
            with pytest.raises(DataError, match=rf"{p.name} must be a number within .*{stable}"):
                check_parameters(name, {p.name: [p.stable[0], p.stable[1]]})


def test_bad_parameter_values_are_refused_before_any_work():
    started = time.perf_counter()
    for bad in ("fast", [0.1, 0.01], [0.01], True, float("nan")):
        with pytest.raises(DataError, match="viscosity"):
            generate("navier_stokes_2d", n_traj=512, steps=200, viscosity=bad)
    assert time.perf_counter() - started < 0.5


def test_an_unsupported_boundary_is_refused_listing_the_supported_ones():
    with pytest.raises(DataError, match=r"boundary='wall' is not supported; give one of 'open', 'periodic', "
                                        r"'reflective'"):
        generate("euler_1d", boundary="wall")
    with pytest.raises(DataError, match=r"'burgers_1d' has no parameter 'boundary'"):
        generate("burgers_1d", boundary="neumann")
    with pytest.raises(DataError, match="a list of 2 of them"):
        check_parameters("shallow_water_2d", {"boundary": ["reflective"]})


# --- walls of the finite-volume simulators ------------------------------------


def test_euler_between_reflecting_walls_conserves_mass_and_energy_and_keeps_the_gas_in():
    ds = generate("euler_1d", n_traj=6, steps=12, resolution=64, seed=3, boundary="reflective",
                  frame_dt=0.05)
    assert ds.spec.boundary_conditions == ("wall",) and ds.spec.attrs["boundary"] == ["reflective"]
    rho, p, u = (ds.fields[f][:, :, 0].astype(np.float64) for f in ("density", "pressure", "velocity"))
    gamma = np.array(ds.spec.attrs["trajectory_parameters"]["gamma"])[:, None]
    mass = rho.sum(-1)
    energy = (p / (gamma[..., None] - 1) + 0.5 * rho * u**2).sum(-1)
    np.testing.assert_allclose(mass, mass[:, :1].repeat(12, 1), rtol=1e-5)
    np.testing.assert_allclose(energy, energy[:, :1].repeat(12, 1), rtol=1e-5)
    open_ds = generate("euler_1d", n_traj=6, steps=12, resolution=64, seed=3, frame_dt=0.05)
    open_mass = open_ds.fields["density"][:, :, 0].astype(np.float64).sum(-1)
    assert np.abs(open_mass[:, -1] - open_mass[:, 0]).max() > 1e-2 * open_mass.max()  # open ends leak


def test_euler_wall_reflects_a_gas_moving_into_it():
    rho = np.ones((1, 32))
    rho_t, u_t, p_t = euler_1d.evolve(rho, np.full((1, 32), 0.5), np.ones((1, 32)), frame_dt=0.1,
                                      steps=3, boundary="reflective")
    assert abs(u_t[0, -1, -1]) < 0.1  # at the wall the gas stops ...
    assert p_t[0, -1, -1] > 1.3  # ... and is compressed


def test_shallow_water_in_a_walled_basin_conserves_mass_with_walls_on_the_chosen_axis():
    ds = generate("shallow_water_2d", n_traj=2, steps=5, resolution=16, seed=1,
                  boundary=["reflective", "periodic"], frame_dt=0.1)
    assert ds.spec.boundary_conditions == ("wall", "periodic")
    h = ds.fields["height"][:, :, 0].astype(np.float64)
    mass = h.sum(axis=(-2, -1))
    np.testing.assert_allclose(mass, mass[:, :1].repeat(5, axis=1), rtol=1e-6)
    # a uniform flow into the wall at x piles water against it
    h_t, _ = shallow_water_2d.evolve(np.ones((1, 16, 16)), np.stack([np.full((16, 16), 0.2), np.zeros((16, 16))])[None],
                                     frame_dt=0.1, steps=3, boundary="reflective")
    assert h_t[0, -1, -1].mean() > 1.05 and h_t[0, -1, 0].mean() < 0.95


# --- stability at the extremes of every range -----------------------------------


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("end", [0, 1])
def test_stable_over_the_default_horizon_at_each_end_of_the_stable_ranges(name, end):
    extremes = {p.name: p.stable[end] for p in _per_trajectory(name)}
    steps = 20  # the default horizon, at the default resolution
    ds = generate(name, n_traj=1, steps=steps, seed=0, **extremes)
    for field, array in ds.fields.items():
        assert np.isfinite(array).all(), field
        early = np.abs(array[:, : steps // 4]).max()  # a blow-up grows: late frames would dwarf early ones
        assert np.abs(array).max() <= 10 * early + 1e-6, field


# --- the contract of every simulator --------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_every_simulator_is_seeded_and_gives_its_declared_fields(name):
    sim = SIMULATORS[name]
    ds, again, other = _small(name), _small(name), _small(name, seed=5)
    resolution = SMALL[sim.n_spatial_dims]
    assert [(f.name, f.components) for f in ds.spec.fields] == list(sim.fields)
    assert len(ds.spec.boundary_conditions) == sim.n_spatial_dims
    for field, components in sim.fields:
        array = ds.fields[field]
        assert array.shape == (3, 3, components, *(resolution,) * sim.n_spatial_dims)
        assert array.dtype == np.float32 and np.isfinite(array).all()
        np.testing.assert_array_equal(again.fields[field], array)
    assert any(not np.array_equal(other.fields[f], a) for f, a in ds.fields.items())


@pytest.mark.parametrize("name", ALL)
def test_stable_over_frames_as_long_as_the_stable_range_of_frame_dt_allows(name):
    frame_dt = next(p for p in SIMULATORS[name].physics if p.name == "frame_dt").stable[1]
    ds = _small(name, n_traj=2, steps=3, frame_dt=frame_dt)
    assert ds.spec.dt == frame_dt
    start = max(max(np.abs(array[:, 0]).max() for array in ds.fields.values()), 1.0)
    for field, array in ds.fields.items():  # a blow-up is orders of magnitude, not a factor (u_t starts at 0)
        assert np.isfinite(array).all(), field
        assert np.abs(array).max() <= 100 * start, field


def test_a_simulator_describes_its_dims_fields_boundaries_and_ranges():
    text = SIMULATORS["euler_2d"].describe()
    assert text.splitlines()[0].startswith("euler_2d: 2D, default resolution 48; compressible Euler 2D")
    assert "fields: density (1), pressure (1), velocity (2)" in text
    assert "boundaries: open (default), periodic, reflective" in text
    assert "gamma [1.3, 1.5] per trajectory (stable [1.1, 1.67]), frame_dt 0.01 (stable [0.001, 0.05])" in text


def test_the_spec_summary_shows_the_range_of_the_per_trajectory_parameters():
    ds = generate("burgers_1d", n_traj=4, steps=2, resolution=16, seed=1, viscosity=(0.01, 0.1))
    values = ds.spec.attrs["trajectory_parameters"]["viscosity"]
    lines = ds.spec.describe().splitlines()
    assert lines[-1] == f"per trajectory viscosity {min(values):.4g}..{max(values):.4g} (4 values)"
    assert "trajectory_parameters" not in ds.spec.describe()
