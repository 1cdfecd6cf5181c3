"""Phase-field and reaction-diffusion simulators (Allen-Cahn, Cahn-Hilliard,
Gray-Scott, FitzHugh-Nagumo): exact ODE and linear-mode solutions, conserved
mass with zero-flux walls, energy decay, bounds. Tiny grids."""

from __future__ import annotations

import numpy as np
import pytest

from pde_data.simulators import fitzhugh_nagumo_2d, generate, gray_scott_2d, phase_field
from pde_data.simulators._spectral_box import SpectralBox


def _box(boundary: str, length: float = 1.0, resolution: int = 16) -> SpectralBox:
    return SpectralBox(resolution, (boundary, boundary), length)


def _ginzburg_landau(box: SpectralBox, u: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """sum of eps^2 |grad u|^2 / 2 + (u^2 - 1)^2 / 4 over the grid, for `u (N, T, X, Y)`, `eps (N,)`."""
    u_hat = box.forward(u)
    gradient = sum(box.backward(1j * k * u_hat) ** 2 for k in box.k)
    return (eps[:, None, None, None] ** 2 * gradient / 2 + (u**2 - 1) ** 2 / 4).sum(axis=(-2, -1))


# --- Allen-Cahn ----------------------------------------------------------------------


def test_allen_cahn_uniform_state_follows_the_logistic_ode():
    """u' = u - u^3: u(t) = c e^t / sqrt(1 - c^2 + c^2 e^(2t))."""
    c = np.array([-0.6, 0.1, 0.9, 1.4])
    u0 = np.broadcast_to(c[:, None, None], (4, 8, 8)).copy()
    u = phase_field.evolve_allen_cahn(_box("periodic", resolution=8), u0, epsilon=0.03, frame_dt=0.5, steps=5)
    t = 0.5 * np.arange(5)[None, :]
    exact = c[:, None] * np.exp(t) / np.sqrt(1 - c[:, None] ** 2 + c[:, None] ** 2 * np.exp(2 * t))
    np.testing.assert_allclose(u[:, :, 3, 5], exact, atol=5e-4)  # RK4 with substeps of 0.25


@pytest.mark.parametrize("boundary, mode", [("periodic", lambda x: np.cos(2 * np.pi * x)),
                                            ("neumann", lambda x: np.cos(3 * np.pi * x))])
def test_allen_cahn_small_mode_grows_at_one_minus_eps2_k2(boundary, mode):
    box = _box(boundary)
    x = box.points(0)[:, None] + 0 * box.points(1)[None, :]
    k2 = (2 * np.pi) ** 2 if boundary == "periodic" else (3 * np.pi) ** 2
    eps = 0.2
    u = phase_field.evolve_allen_cahn(box, 1e-6 * mode(x)[None], epsilon=eps, frame_dt=0.5, steps=4)[0]
    rate = 1 - eps**2 * k2
    expected = 1e-6 * np.exp(rate * 0.5 * np.arange(4))[:, None, None] * mode(x)
    np.testing.assert_allclose(u, expected, rtol=1e-4, atol=1e-16)


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_allen_cahn_energy_never_increases_and_u_stays_bounded(boundary):
    ds = generate("allen_cahn_2d", n_traj=3, steps=8, resolution=32, seed=1, boundary=boundary)
    u = ds.fields["u"][:, :, 0].astype(np.float64)
    eps = np.array(ds.spec.attrs["trajectory_parameters"]["epsilon"])
    energy = _ginzburg_landau(_box(boundary, resolution=32), u, eps)
    assert (np.diff(energy, axis=1) <= 1e-6 * energy[:, :1]).all() and (energy[:, -1] < energy[:, 0]).all()
    assert np.abs(u).max() <= max(1.0, np.abs(u[:, 0]).max()) + 1e-3


# --- Cahn-Hilliard ------------------------------------------------------------------


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_cahn_hilliard_conserves_mass_and_lowers_its_energy(boundary):
    ds = generate("cahn_hilliard_2d", n_traj=3, steps=6, resolution=32, seed=2, boundary=boundary,
                  epsilon=(0.04, 0.08))
    u = ds.fields["u"][:, :, 0].astype(np.float64)
    mass = u.mean(axis=(-2, -1))
    np.testing.assert_allclose(mass, mass[:, :1].repeat(6, axis=1), atol=1e-6)
    eps = np.array(ds.spec.attrs["trajectory_parameters"]["epsilon"])
    energy = _ginzburg_landau(_box(boundary, resolution=32), u, eps)
    assert (np.diff(energy, axis=1) <= 1e-6 * energy[:, :1]).all() and (energy[:, -1] < energy[:, 0]).all()
    assert np.abs(u).max() < 1.2


def test_cahn_hilliard_modes_grow_below_the_spinodal_cutoff_at_k2_minus_eps2_k4():
    """Linearised about u = 0: sigma = k^2 - eps^2 k^4; modes with eps |k| > 1 decay. The stabilised
    step multiplies a mode by g = (1 + dt (S + 1) k^2) / (1 + dt (eps^2 k^4 + S k^2)) exactly."""
    box, eps, frame_dt = _box("periodic"), 0.1, 2e-3
    x = box.points(0)[:, None] + 0 * box.points(1)[None, :]
    for n, grows in ((1, True), (2, False)):  # eps k = 0.63, 1.26
        mode = 1e-6 * np.cos(2 * np.pi * n * x)
        u = phase_field.evolve_cahn_hilliard(box, mode[None], epsilon=eps, frame_dt=frame_dt, steps=3)[0]
        k2 = (2 * np.pi * n) ** 2
        step = phase_field.STABILISER
        factor = (1 + frame_dt * (step + 1) * k2) / (1 + frame_dt * (eps**2 * k2**2 + step * k2))
        np.testing.assert_allclose(u, factor ** np.arange(3)[:, None, None] * mode, rtol=1e-9, atol=1e-18)
        sigma = k2 - eps**2 * k2**2
        measured = np.log(factor) / frame_dt
        assert (measured > 0) == grows
        if grows:  # the stabiliser damps fast decaying modes more, which the data does not miss
            assert measured == pytest.approx(sigma, rel=0.15)


# --- Gray-Scott -----------------------------------------------------------------------


def test_gray_scott_trivial_state_is_fixed_and_u_relaxes_at_the_feed_rate_without_v():
    box = _box("neumann", length=0.5, resolution=8)
    state = np.zeros((2, 2, 8, 8))
    state[0, 0] = 1.0  # u = 1, v = 0: the trivial fixed point
    state[1, 0] = 0.3  # v = 0: u' = F (1 - u)
    uv = gray_scott_2d.evolve(box, state, feed=0.04, kill=0.06, diffusivity=2e-5, diffusivity_ratio=0.5,
                              frame_dt=10.0, steps=4)
    np.testing.assert_array_equal(uv[0, :, 0], 1.0)
    t = 10.0 * np.arange(4)[:, None, None]
    np.testing.assert_allclose(uv[1, :, 0], np.broadcast_to(1 - 0.7 * np.exp(-0.04 * t), (4, 8, 8)), atol=1e-6)
    np.testing.assert_array_equal(uv[:, :, 1], 0.0)


@pytest.mark.parametrize("boundary", ["periodic", "neumann"])
def test_gray_scott_without_feed_or_kill_conserves_u_plus_v(boundary):
    ds = generate("gray_scott_2d", n_traj=2, steps=5, resolution=16, seed=3, feed=0.0, kill=0.0,
                  boundary=boundary)
    total = (ds.fields["u"] + ds.fields["v"]).astype(np.float64).sum(axis=(-3, -2, -1))  # (N, T)
    np.testing.assert_allclose(total, total[:, :1].repeat(5, axis=1), rtol=1e-6)


def test_gray_scott_concentrations_stay_in_their_physical_range():
    ds = generate("gray_scott_2d", n_traj=4, steps=12, resolution=24, seed=4)
    u, v = ds.fields["u"], ds.fields["v"]
    assert u.min() > -0.05 and u.max() < 1.1 and v.min() > -0.05 and v.max() < 1.0
    assert np.abs(v[:, -1] - v[:, 0]).max() > 0.05  # patterns move


# --- FitzHugh-Nagumo -------------------------------------------------------------------


def test_fitzhugh_nagumo_small_neumann_mode_follows_the_linearised_system():
    """About u = v = 0 (k = 0): d/dt (u, v) = [[1 - D_u q^2, -1], [1, -1 - D_v q^2]] (u, v) for cos(q x)."""
    box = SpectralBox(16, ("neumann", "periodic"), 2.0)
    q = 2 * np.pi / 2.0  # cos(q x) on [0, 2] with zero slope at both walls: one full wave
    shape = np.cos(q * box.points(0))[:, None] + 0 * box.points(1)[None, :]
    start = 1e-6 * np.stack([shape, 0.5 * shape])[None]  # (1, 2, X, Y)
    d_u, d_v = 0.05, 0.2
    uv = fitzhugh_nagumo_2d.evolve(box, start, diffusivity_u=d_u, diffusivity_v=d_v, k=0.0, frame_dt=0.3,
                                   steps=4)
    a = np.array([[1 - d_u * q**2, -1.0], [1.0, -1 - d_v * q**2]])
    values, vectors = np.linalg.eig(a)
    for step in range(4):
        propagator = (vectors @ np.diag(np.exp(values * 0.3 * step)) @ np.linalg.inv(vectors)).real
        expected = propagator @ np.array([1e-6, 0.5e-6])
        np.testing.assert_allclose(uv[0, step, :, 3, 5], expected * shape[3, 5], rtol=1e-5, atol=1e-16)


def test_fitzhugh_nagumo_stays_bounded_and_relaxes_from_rough_noise():
    ds = generate("fitzhugh_nagumo_2d", n_traj=3, steps=10, resolution=24, seed=5)
    u, v = ds.fields["activator"], ds.fields["inhibitor"]
    assert np.isfinite(u).all() and np.abs(u[:, 2:]).max() < 2.5 and np.abs(v[:, 2:]).max() < 2.5
    assert np.abs(u[:, 2:]).max() < np.abs(u[:, 0]).max()
