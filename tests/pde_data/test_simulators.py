"""Built-in simulators: the physics (conservation, decay rates, exact solutions),
determinism by seed, the spec, and `generate`'s argument errors.

Small grids and few frames throughout; the solvers' own functions (`evolve`)
are driven directly where an exact solution needs a chosen initial state.
"""

from __future__ import annotations

import numpy as np
import pytest

from pde_data.dataset import compute_stats
from pde_data.errors import DataError
from pde_data.simulators import SIMULATORS, generate
from pde_data.simulators import (
    advection_diffusion_3d, burgers_1d, euler_1d, navier_stokes_2d, shallow_water_2d,
)
from pde_data.spec import DatasetSpec

# name -> (small resolution for tests, fields with components, boundary condition)
EXPECTED = {
    "burgers_1d": (32, {"u": 1}, "periodic"),
    "euler_1d": (32, {"density": 1, "pressure": 1, "velocity": 1}, "open"),
    "shallow_water_2d": (16, {"height": 1, "velocity": 2}, "periodic"),
    "navier_stokes_2d": (16, {"velocity": 2, "vorticity": 1}, "periodic"),
    "advection_diffusion_3d": (12, {"concentration": 1, "velocity": 3}, "periodic"),
}
N_TRAJ, STEPS = 3, 4


@pytest.fixture(scope="module")
def small_runs():
    """One small run per simulator, shared by the contract tests."""
    return {name: generate(name, n_traj=N_TRAJ, steps=STEPS, resolution=res, seed=7)
            for name, (res, _, _) in EXPECTED.items()}


def _k(resolution: int) -> np.ndarray:
    """Integer (angular) wavenumbers of an FFT on [0, 2 pi)."""
    return np.fft.fftfreq(resolution, d=1.0 / resolution)


# --- registry and contract ----------------------------------------------------


def test_registry_holds_the_five_built_in_simulators_with_their_dimensions():
    assert set(EXPECTED) <= set(SIMULATORS)
    dims = {name: SIMULATORS[name].n_spatial_dims for name in EXPECTED}
    assert dims == {"burgers_1d": 1, "euler_1d": 1, "shallow_water_2d": 2, "navier_stokes_2d": 2,
                    "advection_diffusion_3d": 3}
    assert {name: SIMULATORS[name].default_resolution for name in EXPECTED} == {
        "burgers_1d": 128, "euler_1d": 128, "shallow_water_2d": 64, "navier_stokes_2d": 64,
        "advection_diffusion_3d": 32}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_spec_describes_the_arrays(name, small_runs):
    ds = small_runs[name]
    resolution, fields, bc = EXPECTED[name]
    d = SIMULATORS[name].n_spatial_dims
    spec = ds.spec
    assert spec.name == name and spec.source == f"simulator:{name}" and spec.format == "simulator"
    assert spec.grid_shape == (resolution,) * d
    assert [(f.name, f.components) for f in spec.fields] == list(fields.items())
    assert (spec.n_trajectories, spec.n_steps) == (N_TRAJ, STEPS)
    assert spec.boundary_conditions == (bc,) * d
    assert spec.axis_names == ("x", "y", "z")[:d]
    assert spec.dt is not None and spec.dt > 0
    assert spec.spacing is not None and len(spec.spacing) == d and all(s > 0 for s in spec.spacing)
    assert spec.attrs["seed"] == 7
    for field, components in fields.items():
        array = ds.fields[field]
        assert array.dtype == np.float32
        assert array.shape == (N_TRAJ, STEPS, components, *(resolution,) * d)
        assert np.isfinite(array).all()
    assert spec.stats == compute_stats(ds)
    assert DatasetSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("name", list(EXPECTED))
def test_same_seed_gives_identical_data_and_another_seed_differs(name, small_runs):
    resolution = EXPECTED[name][0]
    again = generate(name, n_traj=N_TRAJ, steps=STEPS, resolution=resolution, seed=7)
    other = generate(name, n_traj=N_TRAJ, steps=STEPS, resolution=resolution, seed=8)
    for field, array in small_runs[name].fields.items():
        np.testing.assert_array_equal(again.fields[field], array)
        assert not np.array_equal(other.fields[field], array)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_frames_change_in_time(name, small_runs):
    first_field = next(iter(EXPECTED[name][1]))
    array = small_runs[name].fields[first_field]
    assert np.abs(array[:, -1] - array[:, 0]).max() > 1e-3


@pytest.mark.parametrize("name, field", [("burgers_1d", "u"), ("navier_stokes_2d", "vorticity")])
def test_initial_condition_is_the_same_continuous_field_on_every_grid(name, field):
    coarse = generate(name, n_traj=2, steps=2, resolution=48, seed=5).fields[field][:, 0]
    fine = generate(name, n_traj=2, steps=2, resolution=96, seed=5).fields[field][:, 0]
    every_other = (slice(None), slice(None), *[slice(None, None, 2)] * (fine.ndim - 2))
    np.testing.assert_allclose(fine[every_other], coarse, atol=1e-5)


def test_default_run_has_the_documented_shape():
    ds = generate("euler_1d")
    assert ds.spec.grid_shape == (128,) and (ds.spec.n_trajectories, ds.spec.n_steps) == (16, 20)


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="heat_7d"), "unknown simulator 'heat_7d'; available: advection_1d, advection_diffusion_3d"),
    (dict(name="burgers_1d", n_traj=0), "n_traj"),
    (dict(name="burgers_1d", steps=1), "steps"),
    (dict(name="burgers_1d", n_traj=2.5), "n_traj"),
    (dict(name="burgers_1d", resolution=4), "resolution"),
    (dict(name="burgers_1d", seed=-1), "seed"),
    (dict(name="burgers_1d", seed="zero"), "seed"),
])
def test_generate_rejects_bad_arguments_by_name(kwargs, match):
    with pytest.raises(DataError, match=match):
        generate(**kwargs)


def test_generate_passes_physical_parameters_and_records_them():
    assert SIMULATORS["burgers_1d"].parameters == {"viscosity": (0.013, 0.02), "frame_dt": 0.02}
    assert all(sim.parameters for sim in SIMULATORS.values())
    default = generate("burgers_1d", n_traj=2, steps=6, resolution=32, seed=3)
    viscous = generate("burgers_1d", n_traj=2, steps=6, resolution=32, seed=3, viscosity=0.1)
    assert viscous.spec.attrs["viscosity"] == 0.1 and default.spec.attrs["viscosity"] == [0.013, 0.02]
    assert viscous.spec.attrs["trajectory_parameters"] == {"viscosity": [0.1, 0.1]}
    np.testing.assert_array_equal(viscous.fields["u"][:, 0], default.fields["u"][:, 0])  # same start
    energy = lambda ds: (ds.fields["u"].astype(np.float64) ** 2).mean(axis=(2, 3))[:, -1]  # noqa: E731
    assert (energy(viscous) < energy(default)).all()  # more viscosity dissipates more


def test_generate_names_the_parameters_when_one_is_unknown():
    with pytest.raises(DataError, match=r"'burgers_1d' has no parameter 'nu'.*viscosity=\(0.013, 0.02\), "
                                        r"frame_dt=0.02"):
        generate("burgers_1d", n_traj=1, steps=2, nu=0.01)
    with pytest.raises(DataError, match=r"viscosity=0 is outside the range the solver keeps stable, \[0.005, 0.5\]"):
        generate("burgers_1d", n_traj=1, steps=2, viscosity=0)


@pytest.mark.parametrize("simulate, kwargs, match", [
    (burgers_1d.simulate, dict(viscosity=-0.1), r"viscosity=-0.1 is outside .* \[0.005, 0.5\]"),
    (euler_1d.simulate, dict(gamma=1.0), r"gamma=1.0 is outside .* \[1.1, 1.67\]"),
    (shallow_water_2d.simulate, dict(frame_dt=0.0), "frame_dt=0.0 is outside"),
    (navier_stokes_2d.simulate, dict(viscosity="1e-3"), "viscosity"),
    (advection_diffusion_3d.simulate, dict(diffusivity=0), "diffusivity"),
])
def test_simulate_rejects_unphysical_parameters_by_name(simulate, kwargs, match):
    with pytest.raises(DataError, match=match):
        simulate(n_traj=1, steps=2, resolution=8, **kwargs)


# --- Burgers ---------------------------------------------------------------------


def test_burgers_conserves_the_mean_exactly(small_runs):
    u = small_runs["burgers_1d"].fields["u"].astype(np.float64)
    mean = u.mean(axis=(2, 3))  # (N, T)
    np.testing.assert_allclose(mean, mean[:, :1].repeat(STEPS, axis=1), atol=1e-6)
    assert np.abs(mean[:, 0]).max() > 1e-3  # a non-trivial mean is what is being kept


def test_burgers_energy_only_decays():
    """d/dt int u^2 / 2 = -nu int u_x^2 <= 0 (the dealiased flux conserves energy)."""
    ds = generate("burgers_1d", n_traj=4, steps=10, resolution=64, seed=2)
    energy = (ds.fields["u"].astype(np.float64) ** 2).mean(axis=(2, 3))  # (N, T)
    assert (np.diff(energy, axis=1) <= 1e-7 * energy[:, :1]).all()
    assert (energy[:, -1] < energy[:, 0]).all()


def test_burgers_matches_the_cole_hopf_solution():
    """u = -2 nu (log phi)_x with phi = 1 + a exp(-4 pi^2 nu t) cos(2 pi x) solving the heat equation."""
    nu, amplitude, frame_dt, steps, resolution = 0.05, 0.6, 0.05, 5, 64
    x = np.arange(resolution) / resolution
    t = frame_dt * np.arange(steps)[:, None]
    decay = amplitude * np.exp(-4 * np.pi**2 * nu * t)
    exact = 4 * np.pi * nu * decay * np.sin(2 * np.pi * x) / (1 + decay * np.cos(2 * np.pi * x))
    u = burgers_1d.evolve(exact[:1], viscosity=nu, frame_dt=frame_dt, steps=steps)
    np.testing.assert_allclose(u[0], exact, atol=1e-6)


# --- Euler -------------------------------------------------------------------------

def _euler_conserved(rho, p, u, gamma=1.4):
    return np.stack([rho, rho * u, p / (gamma - 1) + 0.5 * rho * u**2])


def _euler_flux(rho, p, u, gamma=1.4):
    energy = p / (gamma - 1) + 0.5 * rho * u**2
    return np.stack([rho * u, rho * u**2 + p, u * (energy + p)])


def test_euler_changes_mass_momentum_energy_only_by_the_boundary_fluxes():
    # Over two frames (t = 0.02) no wave reaches the ends, so the end states and fluxes stay fixed.
    ds = generate("euler_1d", n_traj=8, steps=3, resolution=64, seed=3)
    rho, p, u = (ds.fields[f][:, :, 0].astype(np.float64) for f in ("density", "pressure", "velocity"))
    gamma = np.array(ds.spec.attrs["trajectory_parameters"]["gamma"])  # (N,): the recorded draws
    totals = _euler_conserved(rho, p, u, gamma[:, None, None]).sum(axis=-1) * ds.spec.spacing[0]  # (3, N, T)
    left_end, right_end = (_euler_flux(rho[:, 0, j], p[:, 0, j], u[:, 0, j], gamma) for j in (0, -1))
    inflow = left_end - right_end  # (3, N)
    elapsed = ds.spec.dt * np.arange(3)
    expected = totals[:, :, :1] + inflow[:, :, None] * elapsed
    np.testing.assert_allclose(totals, expected, rtol=1e-5, atol=1e-6)


def test_euler_periodic_variant_conserves_exactly():
    rng = np.random.default_rng(0)
    rho, p = rng.uniform(0.2, 1.0, (2, 4, 48))
    u = rng.uniform(-0.5, 0.5, (4, 48))
    rho_t, u_t, p_t = euler_1d.evolve(rho, u, p, frame_dt=0.02, steps=4, boundary="periodic")
    totals = _euler_conserved(rho_t, p_t, u_t).sum(axis=-1)  # (3, N, T)
    np.testing.assert_allclose(totals, totals[:, :, :1].repeat(4, axis=2), rtol=1e-12, atol=1e-12)


def test_euler_moving_contact_keeps_pressure_and_velocity_uniform():
    x = (np.arange(64) + 0.5) / 64
    rho = np.where(np.abs(x - 0.5) < 0.2, 1.0, 0.2)[None]
    rho_t, u_t, p_t = euler_1d.evolve(rho, np.full_like(rho, 0.3), np.full_like(rho, 0.7), frame_dt=0.05,
                                      steps=4, boundary="periodic")
    np.testing.assert_allclose(u_t, 0.3, rtol=1e-10)
    np.testing.assert_allclose(p_t, 0.7, rtol=1e-10)
    excess = rho_t[0] - 0.2  # the slab's own mass
    mass_centre = (excess * x).sum(-1) / excess.sum(-1)
    np.testing.assert_allclose(mass_centre, 0.5 + 0.3 * 0.05 * np.arange(4), atol=1e-3)


def test_euler_sod_tube_reaches_the_exact_star_state():
    x = (np.arange(256) + 0.5) / 256
    left = x < 0.5
    rho, u, p = euler_1d.evolve(np.where(left, 1.0, 0.125)[None], np.zeros((1, 256)),
                                np.where(left, 1.0, 0.1)[None], frame_dt=0.2, steps=2)
    # exact at t = 0.2: p* = 0.30313, u* = 0.92745, rho*L = 0.42632, rho*R = 0.26557, shock at x = 0.8504

    def probe(field: np.ndarray, where: float) -> float:
        return field[0, 1, int(where * 256)]

    assert probe(p, 0.75) == pytest.approx(0.30313, rel=1e-2)
    assert probe(u, 0.75) == pytest.approx(0.92745, rel=1e-2)
    assert probe(rho, 0.62) == pytest.approx(0.42632, rel=1e-2)
    assert probe(rho, 0.78) == pytest.approx(0.26557, rel=1e-2)
    assert probe(rho, 0.83) > 0.2 and probe(rho, 0.87) == pytest.approx(0.125, rel=1e-3)


def test_euler_keeps_density_and_pressure_positive_over_many_riemann_problems():
    ds = generate("euler_1d", n_traj=64, steps=20, resolution=64, seed=11)
    assert ds.spec.stats["density"].min > 0 and ds.spec.stats["pressure"].min > 0


# --- shallow water -------------------------------------------------------------------


def test_shallow_water_conserves_mass_and_momentum():
    ds = generate("shallow_water_2d", n_traj=3, steps=5, resolution=24, seed=1)
    h = ds.fields["height"][:, :, 0].astype(np.float64)
    hu = h[:, :, None] * ds.fields["velocity"]
    mass = h.sum(axis=(-2, -1))
    momentum = hu.sum(axis=(-2, -1))
    np.testing.assert_allclose(mass, mass[:, :1].repeat(5, axis=1), rtol=1e-6)
    np.testing.assert_allclose(momentum, momentum[:, :1].repeat(5, axis=1), atol=1e-5 * mass.max())
    assert h.min() > 0


def test_shallow_water_standing_wave_oscillates_at_the_gravity_wave_speed():
    """Linear theory: h = 1 + a cos(2 pi x) cos(2 pi sqrt(g) t); half a period later the crest is a trough."""
    resolution, amplitude = 32, 1e-3
    x = (np.arange(resolution) + 0.5) / resolution
    height = np.broadcast_to(1 + amplitude * np.cos(2 * np.pi * x)[:, None], (resolution, resolution))[None]
    h, velocity = shallow_water_2d.evolve(np.array(height), np.zeros((1, 2, resolution, resolution)),
                                          frame_dt=0.25, steps=3)
    mode = (h[0, :, :, 0].astype(np.float64) - 1) @ np.cos(2 * np.pi * x) * 2 / resolution / amplitude
    assert abs(mode[1]) < 0.05  # quarter period: flat
    assert -1.0 < mode[2] < -0.9  # half period: inverted, a little numerical damping
    np.testing.assert_allclose(velocity[0, :, 1], 0.0, atol=1e-7)  # no motion along y


# --- Navier-Stokes --------------------------------------------------------------------


def test_navier_stokes_fourier_mode_decays_at_the_viscous_rate():
    """Without forcing w = cos(2x + y) is an exact solution: the advection term vanishes."""
    nu, frame_dt, steps, resolution = 0.01, 0.5, 5, 16
    x = 2 * np.pi * np.arange(resolution) / resolution
    mode = np.cos(2 * x[:, None] + x[None, :])
    w = navier_stokes_2d.evolve(mode[None], viscosity=nu, frame_dt=frame_dt, steps=steps)
    decay = np.exp(-nu * 5 * frame_dt * np.arange(steps))
    np.testing.assert_allclose(w[0], decay[:, None, None] * mode, atol=1e-12)


def test_navier_stokes_first_step_follows_the_vorticity_equation():
    """(w(dt) - w(0)) / dt ~ -u . grad w + nu lap w + f, derived here independently."""
    resolution, nu, dt = 32, 0.01, 1e-4
    x = 2 * np.pi * np.arange(resolution) / resolution
    x, y = x[:, None], x[None, :]
    w0 = (np.cos(x + 2 * y) + 0.7 * np.sin(3 * x - y + 1) + 0.4 * np.cos(2 * x + 0.3))[None]  # several |k|
    forcing = navier_stokes_2d.fno_forcing(resolution)
    w = navier_stokes_2d.evolve(w0, viscosity=nu, frame_dt=dt, steps=2, forcing=forcing)
    kx, ky = _k(resolution)[:, None], np.arange(resolution // 2 + 1)[None, :]
    w_hat = np.fft.rfft2(w0[0])

    def derivative(factor: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(factor * w_hat, s=w0.shape[1:])

    k2 = np.where(kx**2 + ky**2 == 0, 1, kx**2 + ky**2)
    u, v = derivative(1j * ky / k2), derivative(-1j * kx / k2)
    rate = -(u * derivative(1j * kx) + v * derivative(1j * ky)) + nu * derivative(-(kx**2 + ky**2)) + forcing
    np.testing.assert_allclose((w[0, 1] - w[0, 0]) / dt, rate, atol=1e-3 * np.abs(rate).max())


def test_navier_stokes_velocity_is_divergence_free_and_its_curl_is_the_vorticity(small_runs):
    ds = small_runs["navier_stokes_2d"]
    resolution = ds.spec.grid_shape[0]
    kx, ky = _k(resolution)[:, None], np.arange(resolution // 2 + 1)[None, :]
    u_hat = np.fft.rfft2(ds.fields["velocity"].astype(np.float64))  # (N, T, 2, kx, ky)
    w_hat = np.fft.rfft2(ds.fields["vorticity"][:, :, 0].astype(np.float64))
    divergence = 1j * kx * u_hat[:, :, 0] + 1j * ky * u_hat[:, :, 1]
    curl = 1j * kx * u_hat[:, :, 1] - 1j * ky * u_hat[:, :, 0]
    scale = np.abs(w_hat).max()
    assert np.abs(divergence).max() < 1e-5 * scale
    keep = (np.abs(kx) < resolution / 3) & (ky < resolution / 3)
    assert np.abs((curl - w_hat) * keep).max() < 1e-5 * scale
    mean_vorticity = w_hat[..., 0, 0].real
    np.testing.assert_allclose(mean_vorticity, mean_vorticity[:, :1].repeat(STEPS, axis=1), atol=1e-3)


# --- advection-diffusion -----------------------------------------------------------------


def test_advection_diffusion_conserves_the_mean_and_keeps_the_flow_steady(small_runs):
    ds = small_runs["advection_diffusion_3d"]
    c = ds.fields["concentration"][:, :, 0].astype(np.float64)
    mean = c.mean(axis=(-3, -2, -1))
    np.testing.assert_allclose(mean, mean[:, :1].repeat(STEPS, axis=1), rtol=1e-6)
    velocity = ds.fields["velocity"]
    np.testing.assert_array_equal(velocity, velocity[:, :1].repeat(STEPS, axis=1))
    resolution = ds.spec.grid_shape[0]
    u_hat = np.fft.fftn(velocity[:, 0].astype(np.float64), axes=(-3, -2, -1))  # (N, 3, kx, ky, kz)
    k = _k(resolution)
    divergence = (1j * k[:, None, None] * u_hat[:, 0] + 1j * k[None, :, None] * u_hat[:, 1]
                  + 1j * k[None, None, :] * u_hat[:, 2])
    assert np.abs(divergence).max() < 1e-5 * np.abs(u_hat).max()
    rms_speed = np.sqrt((velocity[:, 0].astype(np.float64) ** 2).sum(axis=1).mean(axis=(-3, -2, -1)))
    np.testing.assert_allclose(rms_speed, 1.0, rtol=1e-5)


def test_advection_diffusion_fourier_mode_decays_at_the_diffusive_rate_without_flow():
    kappa, frame_dt, steps, resolution = 0.1, 0.2, 4, 12
    x = 2 * np.pi * np.arange(resolution) / resolution
    mode = np.sin(x[:, None, None] + 2 * x[None, None, :]) + 0 * x[None, :, None]
    c = advection_diffusion_3d.evolve(mode[None], np.zeros((1, 3, *mode.shape)), diffusivity=kappa,
                                      frame_dt=frame_dt, steps=steps)
    decay = np.exp(-kappa * 5 * frame_dt * np.arange(steps))
    np.testing.assert_allclose(c[0], decay[:, None, None, None] * mode, atol=1e-12)


def test_advection_diffusion_uniform_flow_translates_the_scalar():
    """c_t + U . grad c = 0 with constant U: c(x, t) = c0(x - U t)."""
    resolution, frame_dt, steps = 12, 0.1, 3
    x = 2 * np.pi * np.arange(resolution) / resolution
    grid = np.meshgrid(x, x, x, indexing="ij")
    flow = np.array([0.5, -0.25, 1.0])

    def profile(shift: np.ndarray) -> np.ndarray:
        return np.cos(grid[0] - shift[0] + 2 * (grid[2] - shift[2])) + np.sin(grid[1] - shift[1])

    velocity = np.broadcast_to(flow[:, None, None, None], (3, *grid[0].shape))[None]
    c = advection_diffusion_3d.evolve(profile(np.zeros(3))[None], velocity, diffusivity=0.0,
                                      frame_dt=frame_dt, steps=steps)
    for step in range(steps):
        np.testing.assert_allclose(c[0, step], profile(flow * frame_dt * step), atol=1e-4)
