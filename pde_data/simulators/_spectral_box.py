"""Fourier collocation on a box with a boundary kind per axis, for the
diffusion-type simulators (heat, waves, phase field, reaction-diffusion).

Per axis of the box `[0, L)` with `n` points:
- "periodic": points x_j = j L / n, the plain Fourier series;
- "neumann" (zero flux, u_x = 0 at both walls) and "dirichlet" (u = 0 at both
  walls; a simulator adds a harmonic offset for other wall values): cell centres
  x_j = (j + 1/2) L / n, extended to the periodic box [0, 2L) by the even
  (Neumann) or odd (Dirichlet) mirror image. The Fourier series of the extended
  field is the cosine (DCT-II) or sine (DST-II) series, so every derivative the
  scheme takes keeps the boundary condition exactly, and Laplacian powers are
  diagonal with eigenvalues -|k|^2.

`SpectralBox.forward` / `backward` move between grid values `(..., *space)` and
spectral coefficients of the extended field `(..., *spectral_shape)`; `k2` is
|k|^2 on the spectral grid. Pointwise nonlinear terms are formed on the
physical grid (`backward`), so they keep the mirror symmetry by construction.
`integrate` runs integrating-factor RK4 over saved frames for
`d u_hat / dt = linear * u_hat + nonlinear(u_hat)`; `reaction_diffusion` is
that for `u_t = D lap u + R(u)` with a pointwise reaction `R`.
`start_box` and `box_dataset` are the first and last lines of every box
simulator's `simulate` (arguments, parameters, box and generator; the dataset
with its spacing, boundaries and attributes).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from pde_data.dataset import PDEDataset
from pde_data.simulators._common import (
    build_dataset, check_arguments, frame_progress, integrating_factor_rk4_step, smooth_random_field,
    substep_count,
)
from pde_data.simulators._parameters import Draws, Parameter, resolve_boundaries, spec_boundaries

__all__ = ["BOX_BOUNDARIES", "SpectralBox", "box_dataset", "integrate", "reaction_diffusion", "speed_limit",
           "start_box"]

BOX_BOUNDARIES = ("periodic", "neumann", "dirichlet")
_MIRROR_SIGN = {"neumann": 1.0, "dirichlet": -1.0}


class SpectralBox:
    """The box `[0, length)^d` sampled by `resolution` points per axis, `boundaries` one kind per axis."""

    def __init__(self, resolution: int, boundaries: Sequence[str], length: float):
        assert all(b in BOX_BOUNDARIES for b in boundaries), boundaries
        self.resolution = resolution
        self.boundaries = tuple(boundaries)
        self.ndim = len(boundaries)
        self.length = length
        self.spacing = length / resolution
        self.extended_shape = tuple(resolution * (1 if b == "periodic" else 2) for b in boundaries)
        self.space_axes = tuple(range(-self.ndim, 0))
        ks = []
        for axis, size in enumerate(self.extended_shape):
            last = axis == self.ndim - 1
            k = 2 * np.pi * (np.fft.rfftfreq if last else np.fft.fftfreq)(size, d=self.spacing)
            shape = [1] * self.ndim
            shape[axis] = k.size
            ks.append(k.reshape(shape))
        self.k = ks  # one broadcastable array of angular wavenumbers per axis
        self.k2 = sum(k**2 for k in ks)

    def points(self, axis: int) -> np.ndarray:
        """`(n,)` coordinates of the grid along `axis`."""
        offset = 0.0 if self.boundaries[axis] == "periodic" else 0.5
        return (np.arange(self.resolution) + offset) * self.spacing

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Grid values `(..., *space)` -> spectral coefficients of the mirrored field."""
        for axis, kind in zip(self.space_axes, self.boundaries):
            if kind != "periodic":
                values = np.concatenate([values, _MIRROR_SIGN[kind] * np.flip(values, axis)], axis=axis)
        return np.fft.rfftn(values, axes=self.space_axes)

    def backward(self, coefficients: np.ndarray) -> np.ndarray:
        """Spectral coefficients -> grid values `(..., *space)` (the physical part of the box)."""
        values = np.fft.irfftn(coefficients, s=self.extended_shape, axes=self.space_axes)
        return values[(..., *[slice(0, self.resolution)] * self.ndim)]

    def random_field(self, rng: np.random.Generator, n: int, spectrum: Callable[[np.ndarray], np.ndarray],
                     max_mode: int) -> np.ndarray:
        """`(n, *space)` smooth random fields of unit variance (`smooth_random_field`), tapered by
        `sin(pi x / L)` along Dirichlet axes so they vanish at those walls."""
        field = smooth_random_field(rng, n, self.resolution, self.ndim, spectrum, max_mode)
        for axis, kind in enumerate(self.boundaries):
            if kind == "dirichlet":
                shape = [1] * self.ndim
                shape[axis] = self.resolution
                field = field * np.sin(np.pi * self.points(axis) / self.length).reshape(shape)
        return field


MaxStep = Union[float, Callable[[np.ndarray], float]]


def speed_limit(cfl: float, spacing: float) -> Callable[[np.ndarray], float]:
    """`max_dt` for `integrate` on a velocity `(N, C, *space)`: `cfl * spacing / max |u|`."""

    def max_dt(velocity: np.ndarray) -> float:
        return cfl * spacing / max(float(np.sqrt((velocity**2).sum(axis=1)).max()), 1e-6)

    return max_dt


def integrate(box: SpectralBox, state: np.ndarray, linear: np.ndarray, *, frame_dt: float, steps: int,
              max_dt: MaxStep, name: str,
              nonlinear: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> np.ndarray:
    """Frames of `d u_hat/dt = linear * u_hat + nonlinear(u_hat)` from `state (N, F, *space)`.

    `linear` broadcasts against the coefficients `(N, F, *spectral)` (e.g. `-D k2`);
    it is integrated exactly, the rest by RK4 with substeps <= `max_dt` (a number, or
    a function of the last frame's grid values). Returns `(N, T=steps, F, *space)`
    float64; without `nonlinear` every frame is exact.
    """
    coefficients = box.forward(np.asarray(state, dtype=np.float64))
    frames = [box.backward(coefficients)]
    for _ in frame_progress(name, steps - 1):
        limit = max_dt(frames[-1]) if callable(max_dt) else max_dt
        n_sub = 1 if nonlinear is None else substep_count(frame_dt, limit)
        dt = frame_dt / n_sub
        half_step = np.exp(linear * dt / 2)
        for _ in range(n_sub):
            if nonlinear is None:
                coefficients = half_step**2 * coefficients
            else:
                coefficients = integrating_factor_rk4_step(coefficients, nonlinear, half_step, dt)
        frames.append(box.backward(coefficients))
    return np.stack(frames, axis=1)


def reaction_diffusion(box: SpectralBox, state: np.ndarray, diffusivity: np.ndarray,
                       reaction: Callable[[np.ndarray], np.ndarray], *, frame_dt: float, steps: int,
                       max_dt: MaxStep, name: str) -> np.ndarray:
    """Frames of `u_t = D lap u + R(u)` for the fields `state (N, F, *space)`: `diffusivity (N or 1, F)`,
    `reaction` maps grid values `(N, F, *space)` to their rates. Returns `(N, T=steps, F, *space)`."""
    linear = -np.reshape(diffusivity, np.shape(diffusivity) + (1,) * box.ndim) * box.k2  # (N, F, *spectral)

    def nonlinear(coefficients: np.ndarray) -> np.ndarray:
        return box.forward(reaction(box.backward(coefficients)))

    return integrate(box, state, linear, frame_dt=frame_dt, steps=steps, max_dt=max_dt, name=name,
                     nonlinear=nonlinear)


def start_box(name: str, n_traj: int, steps: int, resolution: int, seed: int, physics: Sequence[Parameter], *,
              supported: Sequence[str], boundary: Any, n_space: int, length: float,
              **given: Any) -> tuple[Draws, SpectralBox, np.random.Generator]:
    """Check a `simulate` call and draw its parameters (`check_arguments`), resolve `boundary`
    among `supported`, and build the box `[0, length)^n_space` and the initial-condition generator."""
    draws = check_arguments(name, n_traj, steps, resolution, seed, physics, **given)
    boundaries = resolve_boundaries(name, supported, boundary, n_space)
    return draws, SpectralBox(resolution, boundaries, length), np.random.default_rng(seed)


def box_dataset(name: str, box: SpectralBox, fields: Mapping[str, np.ndarray], physics: Draws, *, equation: str,
                seed: int, origin: float = 0.0) -> PDEDataset:
    """`build_dataset` for fields `(N, T, C_f, *space)` on `box`, recording the equation, the parameters,
    the boundary kind per axis, the domain `[origin, origin + length]` per axis and the seed."""
    return build_dataset(
        name, fields, spacing=(box.spacing,) * box.ndim, dt=physics["frame_dt"],
        boundary_conditions=spec_boundaries(box.boundaries),
        attrs={"equation": equation, **physics.attrs(), "boundary": list(box.boundaries),
               "domain": [[origin, origin + box.length]] * box.ndim, "seed": seed},
    )
