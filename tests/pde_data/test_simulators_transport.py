"""KdV, linear advection-diffusion-dispersion, Burgers 2D, 3D Navier-Stokes and
2D Euler: exact solutions (soliton, Fourier modes, Cole-Hopf, Beltrami flow,
the 1D scheme on 1D problems) and invariants (mass, momentum, energy,
divergence, curl). Tiny grids."""

from __future__ import annotations

import numpy as np
import pytest

from pde_data.simulators import burgers_2d, euler_1d, euler_2d, generate, kdv_1d, navier_stokes_3d
from pde_data.simulators._spectral_box import SpectralBox


def _k(resolution: int, length: float) -> np.ndarray:
    return 2 * np.pi * np.fft.fftfreq(resolution, d=length / resolution)


# --- KdV ---------------------------------------------------------------------------


def test_kdv_soliton_travels_unchanged_at_its_speed():
    box = SpectralBox(128, ("periodic",), kdv_1d.DOMAIN_LENGTH)
    x = box.points(0)
    speed, delta = 1.2, 0.8
    u0 = kdv_1d.soliton(x, speed, 6.0, delta)[None]
    u = kdv_1d.evolve(box, u0, dispersion=delta, frame_dt=0.5, steps=5)
    for step in range(5):
        exact = kdv_1d.soliton(x, speed, 6.0 + speed * 0.5 * step, delta)
        np.testing.assert_allclose(u[0, step], exact, atol=2e-4)


def test_kdv_conserves_mass_exactly_and_momentum_closely():
    ds = generate("kdv_1d", n_traj=3, steps=8, resolution=128, seed=1)
    u = ds.fields["u"][:, :, 0].astype(np.float64)
    mass, momentum = u.sum(-1), (u**2).sum(-1)
    np.testing.assert_allclose(mass, mass[:, :1].repeat(8, axis=1), rtol=1e-5)
    np.testing.assert_allclose(momentum, momentum[:, :1].repeat(8, axis=1), rtol=1e-4)
    assert np.abs(u[:, -1] - u[:, 0]).max() > 0.1


# --- linear advection-diffusion-dispersion -----------------------------------------------


def test_advection_translates_a_profile_exactly_without_diffusion_or_dispersion():
    ds = generate("advection_1d", n_traj=2, steps=6, resolution=32, seed=2, diffusivity=0.0, dispersion=0.0)
    a = np.array(ds.spec.attrs["trajectory_parameters"]["speed"])
    u = ds.fields["u"][:, :, 0].astype(np.float64)
    k = _k(32, 1.0)
    for step in range(6):
        shift = np.exp(-1j * k * a[:, None] * ds.spec.dt * step)
        np.testing.assert_allclose(u[:, step], np.fft.ifft(np.fft.fft(u[:, 0]) * shift).real, atol=1e-5)


def test_advection_modes_decay_and_turn_at_the_rates_of_the_symbol():
    """exp(i k x) -> exp(i k x) exp((-i a k - kappa k^2 - i beta k^3) t)."""
    a, kappa, beta, dt = 0.3, 4e-3, 2e-4, 0.05
    ds = generate("advection_1d", n_traj=2, steps=5, resolution=32, seed=3, speed=a, diffusivity=kappa,
                  dispersion=beta, frame_dt=dt)
    u_hat = np.fft.rfft(ds.fields["u"][:, :, 0].astype(np.float64))  # (N, T, K)
    k = 2 * np.pi * np.arange(17)
    t = dt * np.arange(5)[:, None]
    expected = u_hat[:, :1] * np.exp((-1j * a * k - kappa * k**2 - 1j * beta * k**3) * t)
    np.testing.assert_allclose(u_hat, expected, atol=2e-4 * np.abs(u_hat).max())
    mean = u_hat[:, :, 0].real
    np.testing.assert_allclose(mean, mean[:, :1].repeat(5, axis=1), atol=1e-4)


# --- Burgers 2D ----------------------------------------------------------------------


def test_burgers_2d_matches_a_cole_hopf_solution():
    """u = -2 nu grad log(phi), phi = (1 + a e^(-4 pi^2 nu t) cos 2 pi x)(1 + b e^(-16 pi^2 nu t) cos 4 pi y)."""
    nu, a, b, dt, steps, n = 0.05, 0.5, 0.3, 0.02, 4, 32
    x = (np.arange(n) / n)[:, None] + np.zeros((1, n))
    y = (np.arange(n) / n)[None, :] + np.zeros((n, 1))

    def exact(t: float) -> np.ndarray:
        ea, eb = a * np.exp(-4 * np.pi**2 * nu * t), b * np.exp(-16 * np.pi**2 * nu * t)
        u_x = 4 * np.pi * nu * ea * np.sin(2 * np.pi * x) / (1 + ea * np.cos(2 * np.pi * x))
        u_y = 8 * np.pi * nu * eb * np.sin(4 * np.pi * y) / (1 + eb * np.cos(4 * np.pi * y))
        return np.stack([u_x, u_y])

    box = SpectralBox(n, ("periodic", "periodic"), 1.0)
    u = burgers_2d.evolve(box, exact(0.0)[None], viscosity=nu, frame_dt=dt, steps=steps)
    for step in range(steps):
        np.testing.assert_allclose(u[0, step], exact(dt * step), atol=5e-5)  # 2/3-rule truncation at 32^2


def test_burgers_2d_keeps_a_potential_flow_curl_free_and_dissipates_energy():
    ds = generate("burgers_2d", n_traj=3, steps=8, resolution=32, seed=4)
    u_hat = np.fft.fft2(ds.fields["velocity"].astype(np.float64))  # (N, T, 2, X, Y)
    k = _k(32, 1.0)
    curl = 1j * k[:, None] * u_hat[:, :, 1] - 1j * k[None, :] * u_hat[:, :, 0]
    assert np.abs(curl).max() < 1e-4 * np.abs(u_hat).max()
    mean = u_hat[..., 0, 0].real / 32**2  # (N, T, 2)
    np.testing.assert_allclose(mean, mean[:, :1].repeat(8, axis=1), atol=1e-5)
    energy = (ds.fields["velocity"].astype(np.float64) ** 2).sum(axis=(2, 3, 4))
    assert (np.diff(energy, axis=1) < 1e-6 * energy[:, :1]).all()


# --- Navier-Stokes 3D ----------------------------------------------------------------


def test_navier_stokes_3d_beltrami_flow_decays_exactly_at_the_viscous_rate():
    """The ABC flow has curl u = u, so u x w = 0: u(t) = u0 exp(-nu t)."""
    n, nu, dt = 8, 0.1, 0.25
    x = 2 * np.pi * np.arange(n) / n
    gx, gy, gz = np.meshgrid(x, x, x, indexing="ij")
    a, b, c = 1.0, 0.7, 0.4
    abc = np.stack([a * np.sin(gz) + c * np.cos(gy), b * np.sin(gx) + a * np.cos(gz), c * np.sin(gy) + b * np.cos(gx)])
    box = SpectralBox(n, ("periodic",) * 3, 2 * np.pi)
    u = navier_stokes_3d.evolve(box, abc[None], viscosity=nu, frame_dt=dt, steps=4)
    np.testing.assert_allclose(u[0], np.exp(-nu * dt * np.arange(4))[:, None, None, None, None] * abc, atol=1e-12)


def test_navier_stokes_3d_stays_divergence_free_keeps_its_mean_and_loses_energy():
    ds = generate("navier_stokes_3d", n_traj=2, steps=6, resolution=8, seed=5)
    u = ds.fields["velocity"].astype(np.float64)  # (N, T, 3, X, Y, Z)
    u_hat = np.fft.fftn(u, axes=(-3, -2, -1))
    k = _k(8, 2 * np.pi)
    divergence = (1j * k[:, None, None] * u_hat[:, :, 0] + 1j * k[None, :, None] * u_hat[:, :, 1]
                  + 1j * k[None, None, :] * u_hat[:, :, 2])
    assert np.abs(divergence).max() < 1e-5 * np.abs(u_hat).max()
    mean = u.mean(axis=(-3, -2, -1))
    np.testing.assert_allclose(mean, mean[:, :1].repeat(6, axis=1), atol=1e-6)
    energy = (u**2).sum(axis=(2, 3, 4, 5))
    assert (np.diff(energy, axis=1) < 0).all()
    nu = np.array(ds.spec.attrs["trajectory_parameters"]["viscosity"])
    assert ((0.02 <= nu) & (nu <= 0.05)).all()


# --- Euler 2D ---------------------------------------------------------------------------


def _euler_totals(ds) -> np.ndarray:
    """(mass, momentum_x, momentum_y, energy) summed over the grid, `(4, N, T)`, with the recorded gammas."""
    rho, p = (ds.fields[f][:, :, 0].astype(np.float64) for f in ("density", "pressure"))
    u = ds.fields["velocity"].astype(np.float64)
    gamma = np.array(ds.spec.attrs["trajectory_parameters"]["gamma"])[:, None, None, None]
    energy = p / (gamma - 1) + 0.5 * rho * (u**2).sum(axis=2)
    return np.stack([rho, rho * u[:, :, 0], rho * u[:, :, 1], energy]).sum(axis=(-2, -1))


@pytest.mark.parametrize("boundary, conserved", [("periodic", [0, 1, 2, 3]), ("reflective", [0, 3]),
                                                 (["reflective", "periodic"], [0, 2, 3])])
def test_euler_2d_conserves_what_its_boundaries_keep_in(boundary, conserved):
    ds = generate("euler_2d", n_traj=3, steps=6, resolution=16, seed=6, boundary=boundary, frame_dt=0.02)
    totals = _euler_totals(ds)[conserved]
    scale = np.abs(totals).max(axis=-1, keepdims=True) + 1.0
    np.testing.assert_allclose(totals / scale, totals[..., :1].repeat(6, axis=-1) / scale, atol=2e-6)
    assert ds.spec.stats["density"].min > 0 and ds.spec.stats["pressure"].min > 0


@pytest.mark.parametrize("axis", [0, 1])
def test_euler_2d_on_a_problem_along_one_axis_is_the_1d_scheme(axis):
    n = 32
    x = (np.arange(n) + 0.5) / n
    left = x < 0.4
    rho_1d, p_1d, u_1d = np.where(left, 1.0, 0.3), np.where(left, 0.9, 0.2), np.where(left, 0.2, -0.1)
    expected = euler_1d.evolve(rho_1d[None], u_1d[None], p_1d[None], frame_dt=0.02, steps=4, gamma=1.4)

    def spread(profile: np.ndarray) -> np.ndarray:
        return np.broadcast_to(profile[:, None] if axis == 0 else profile[None, :], (n, n))[None]

    velocity = np.zeros((1, 2, n, n))
    velocity[0, axis] = spread(u_1d)[0]
    frames = euler_2d.evolve(spread(rho_1d), velocity, spread(p_1d), frame_dt=0.02, steps=4, gamma=1.4)
    take = (slice(None), 5) if axis == 0 else (5, slice(None))  # one line along the axis
    for index, profile in ((0, expected[0]), (1 + axis, expected[1]), (3, expected[2])):
        # the 2D step is about half the 1D one (its CFL bound sums both axes): only the time error differs
        np.testing.assert_allclose(frames[0][:, index][(slice(None), *take)], profile[0], atol=1.5e-2)
    uniform = frames[0][:, :, 7, :] if axis == 1 else frames[0][:, :, :, 7]
    np.testing.assert_array_equal(uniform, frames[0][:, :, 3, :] if axis == 1 else frames[0][:, :, :, 3])
    np.testing.assert_allclose(frames[0][:, 2 - axis], 0.0, atol=1e-6)  # no flow across the problem
