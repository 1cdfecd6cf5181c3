"""Heat and wave simulators: exact modal solutions, wall values, conserved heat
and energy, on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest

from pde_data.simulators import generate
from pde_data.simulators import wave
from pde_data.simulators._spectral_box import SpectralBox


def _spectral_sum(box: SpectralBox, weight: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Parseval: sum over the mirrored grid of the field whose spectral density is `weight |u_hat|^2`,
    for `u (..., *space)` (each rfft mode but the first and the last counts twice)."""
    u_hat = box.forward(u)
    size = box.extended_shape[-1]
    twice = np.full(size // 2 + 1, 2.0)
    twice[0] = 1.0
    if size % 2 == 0:
        twice[-1] = 1.0
    return (twice * weight * np.abs(u_hat) ** 2).sum(axis=box.space_axes) / np.prod(box.extended_shape)


# --- heat ------------------------------------------------------------------------


def test_heat_1d_relaxes_sine_modes_exactly_onto_the_line_between_the_wall_values():
    """u = a + (b - a) x + sum_m c_m exp(-D (m pi)^2 t) sin(m pi x) solves the Dirichlet problem."""
    ds = generate("heat_1d", n_traj=2, steps=5, resolution=32, seed=1, left_value=(-1, 1),
                  right_value=(-1, 1), diffusivity=(0.01, 0.05))
    drawn = ds.spec.attrs["trajectory_parameters"]
    a, b, d = (np.array(drawn[k])[:, None, None] for k in ("left_value", "right_value", "diffusivity"))
    x = (np.arange(32) + 0.5) / 32
    u = ds.fields["u"][:, :, 0].astype(np.float64)  # (N, T, X)
    v = u - (a + (b - a) * x)
    sines = np.sin(np.pi * np.arange(1, 33)[:, None] * x) * 2 / 32  # (M, X): the DST-II basis, orthonormal
    coefficients = v @ sines.T  # (N, T, M)
    t = ds.spec.dt * np.arange(5)[:, None]
    expected = coefficients[:, :1] * np.exp(-d * (np.pi * np.arange(1, 33)) ** 2 * t)
    np.testing.assert_allclose(coefficients, expected, atol=1e-5)
    # a very long frame leaves only the line between the wall values
    late = generate("heat_1d", n_traj=2, steps=3, resolution=32, seed=1, left_value=-0.5, right_value=2.0,
                    frame_dt=1.0, diffusivity=1.0).fields["u"][:, -1, 0]
    np.testing.assert_allclose(late, np.broadcast_to(-0.5 + 2.5 * x, late.shape), atol=1e-5)


@pytest.mark.parametrize("name, boundary", [("heat_1d", "neumann"), ("heat_1d", "periodic"),
                                            ("heat_3d", ["neumann", "periodic", "neumann"])])
def test_heat_with_zero_flux_walls_or_periodic_conserves_the_total_heat(name, boundary):
    ds = generate(name, n_traj=3, steps=6, resolution=8 if name == "heat_3d" else 32, seed=2,
                  boundary=boundary)
    u = ds.fields["u"].astype(np.float64)
    total = u.mean(axis=tuple(range(2, u.ndim)))  # (N, T)
    np.testing.assert_allclose(total, total[:, :1].repeat(6, axis=1), atol=1e-6)
    variance = u.var(axis=tuple(range(2, u.ndim)))
    assert (np.diff(variance, axis=1) < 1e-7).all() and (variance[:, -1] < variance[:, 0]).all()


def test_heat_3d_mixed_walls_decay_a_product_mode_at_the_exact_rate():
    """cos(pi x) sin(2 pi y) cos(2 pi z) with Neumann x, Dirichlet y, periodic z: rate D pi^2 (1 + 4 + 4)."""
    ds = generate("heat_3d", n_traj=1, steps=4, resolution=8, seed=0, diffusivity=0.01,
                  boundary=["neumann", "dirichlet", "periodic"], left_value=0.0)
    box = SpectralBox(8, ("neumann", "dirichlet", "periodic"), 1.0)
    x, y, z = (box.points(i) for i in range(3))
    mode = np.cos(np.pi * x)[:, None, None] * np.sin(2 * np.pi * y)[None, :, None] * np.cos(2 * np.pi * z)
    from pde_data.simulators._spectral_box import integrate
    frames = integrate(box, mode[None, None], -0.01 * box.k2, frame_dt=0.1, steps=4, max_dt=np.inf,
                       name="test")
    decay = np.exp(-0.01 * np.pi**2 * 9 * 0.1 * np.arange(4))
    np.testing.assert_allclose(frames[0, :, 0], decay[:, None, None, None] * mode, atol=1e-12)
    assert ds.spec.boundary_conditions == ("wall", "wall", "periodic")


# --- wave --------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", ["dirichlet", "neumann", "periodic"])
def test_wave_2d_conserves_energy(boundary):
    ds = generate("wave_2d", n_traj=3, steps=8, resolution=16, seed=3, boundary=boundary)
    c = np.array(ds.spec.attrs["trajectory_parameters"]["speed"])[:, None]
    box = SpectralBox(16, (boundary,) * 2, 1.0)
    u, u_t = (ds.fields[f][:, :, 0].astype(np.float64) for f in ("u", "u_t"))
    energy = _spectral_sum(box, 1.0, u_t) + c**2 * _spectral_sum(box, box.k2, u)  # (N, T): 2 int (u_t^2 + c^2 |grad u|^2)
    np.testing.assert_allclose(energy, energy[:, :1].repeat(8, axis=1), rtol=1e-5)
    assert np.abs(u_t[:, -1]).max() > 0.1  # the energy moves between u and u_t


def test_wave_2d_clamped_membrane_mode_oscillates_at_c_times_k():
    box = SpectralBox(16, ("dirichlet", "dirichlet"), 1.0)
    x, y = box.points(0)[:, None], box.points(1)[None, :]
    mode = np.sin(np.pi * x) * np.sin(2 * np.pi * y)
    u, u_t = wave.evolve(box, mode[None], np.zeros((1, 16, 16)), speed=0.7, frame_dt=0.1, steps=5)
    omega = 0.7 * np.pi * np.sqrt(5)
    t = 0.1 * np.arange(5)[:, None, None]
    np.testing.assert_allclose(u[0], np.cos(omega * t) * mode, atol=1e-12)
    np.testing.assert_allclose(u_t[0], -omega * np.sin(omega * t) * mode, atol=1e-11)


def test_wave_3d_free_edges_keep_the_mean_velocity_and_the_mean_displacement_drifts_with_it():
    box = SpectralBox(8, ("neumann",) * 3, 1.0)
    rng = np.random.default_rng(0)
    u0, v0 = rng.standard_normal((2, 1, 8, 8, 8))
    u, u_t = wave.evolve(box, u0, v0, speed=1.2, frame_dt=0.05, steps=4)
    mean_v = u_t.mean(axis=(-3, -2, -1))
    np.testing.assert_allclose(mean_v, v0.mean(), atol=1e-12)
    np.testing.assert_allclose(u.mean(axis=(-3, -2, -1))[0], u0.mean() + v0.mean() * 0.05 * np.arange(4),
                               atol=1e-12)
