"""Pieces the built-in simulators share.

- `check_arguments`, `build_dataset`: the common contract of every `simulate`
  (argument checks and the draws of the declared physical parameters, see
  `_parameters`; float32 arrays `(N, T, C_f, *space)` wrapped in a `PDEDataset`
  whose spec carries the statistics).
- Spectral tools on the periodic box `[0, L)^d`: `wavenumbers`, `dealias_mask`,
  `smooth_random_field` and `integrating_factor_rk4_step`.
- Finite-volume tools along one axis: `muscl_faces` (minmod-limited
  reconstruction, periodic), `boundary_faces` (the same with ghost cells for
  periodic, open or reflecting ends), `hll_flux` and `hll_states` (the HLL
  flux between reconstructed states, given the system's flux and wave speeds).
- `substep_count`: how many equal solver substeps fill one saved frame;
  `frame_progress`: the loop over saved frames, with a progress bar on a terminal.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
from tqdm import tqdm  # not tqdm.auto: no widget warning in notebooks

from pde_data.dataset import PDEDataset, compute_stats
from pde_data.errors import DataError
from pde_data.simulators._parameters import Draws, Parameter, draw_parameters
from pde_data.spec import DatasetSpec, FieldSpec

__all__ = [
    "boundary_faces", "build_dataset", "check_arguments", "dealias_mask", "frame_progress", "hll_flux", "hll_states",
    "integrating_factor_rk4_step", "muscl_faces", "smooth_random_field", "substep_count", "wavenumbers",
]


def check_arguments(name: str, n_traj: int, steps: int, resolution: int, seed: int,
                    physics: Sequence[Parameter] = (), **given: Any) -> Draws:
    """Raise a `DataError` naming the argument when a `simulate` call is malformed, else draw
    the declared `physics` parameters (`given[name]`: None for the default, a number, a range)."""
    for arg, value, low in (("n_traj", n_traj, 1), ("steps", steps, 2), ("resolution", resolution, 8),
                            ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"simulator {name!r}: {arg} must be an int >= {low}, got {value!r}")
    return draw_parameters(name, physics, n_traj, seed, **given)


def build_dataset(name: str, fields: Mapping[str, np.ndarray], *, spacing: Sequence[float], dt: float,
                  boundary_conditions: Sequence[str], attrs: dict[str, Any],
                  axis_names: Optional[Sequence[str]] = None) -> PDEDataset:
    """Wrap `{field: (N, T, C_f, *space)}` arrays in a `PDEDataset` with a full spec and statistics."""
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in fields.items()}
    first = next(iter(arrays.values()))
    spec = DatasetSpec(
        name=name,
        grid_shape=first.shape[3:],
        fields=tuple(FieldSpec(k, int(v.shape[2])) for k, v in arrays.items()),
        n_trajectories=int(first.shape[0]),
        n_steps=int(first.shape[1]),
        dt=dt,
        spacing=tuple(spacing),
        boundary_conditions=tuple(boundary_conditions),
        axis_names=tuple(axis_names) if axis_names else (),
        source=f"simulator:{name}",
        format="simulator",
        attrs=attrs,
    )
    dataset = PDEDataset(spec, arrays)
    spec.stats = compute_stats(dataset)
    return dataset


def substep_count(frame_dt: float, max_dt: float) -> int:
    """The fewest equal substeps of length <= `max_dt` that fill `frame_dt`."""
    return max(1, math.ceil(frame_dt / max_dt - 1e-9))


def frame_progress(name: str, n_frames: int) -> Iterable[int]:
    """`range(n_frames)`, shown as a progress bar when stderr is a terminal (silent otherwise)."""
    return tqdm(range(n_frames), desc=name, unit="frame", disable=None, leave=False)


# --- spectral ----------------------------------------------------------------

def wavenumbers(resolution: int, ndim: int, length: float) -> list[np.ndarray]:
    """Angular wavenumbers of an `rfftn` over the last `ndim` axes, one broadcastable
    array per axis: shapes `(n, 1, .., 1)`, ..., `(1, .., n // 2 + 1)`."""
    scale = 2 * np.pi / length
    ks = []
    for axis in range(ndim):
        last = axis == ndim - 1
        k = (np.fft.rfftfreq if last else np.fft.fftfreq)(resolution, d=1.0 / resolution) * scale
        shape = [1] * ndim
        shape[axis] = k.size
        ks.append(k.reshape(shape))
    return ks


def dealias_mask(resolution: int, ndim: int) -> np.ndarray:
    """Orszag's 2/3 rule: True on rfftn modes with every integer |k_i| < resolution / 3;
    this also removes the Nyquist modes."""
    mask = np.ones((1,) * ndim, dtype=bool)
    for k in wavenumbers(resolution, ndim, 2 * np.pi):
        mask = mask & (np.abs(k) < resolution / 3)
    return mask


def smooth_random_field(rng: np.random.Generator, n: int, resolution: int, ndim: int,
                        spectrum: Callable[[np.ndarray], np.ndarray], max_mode: int) -> np.ndarray:
    """`(n, *[resolution] * ndim)` real periodic fields `Re sum_k a_k exp(i k.x)` on `[0, 2 pi)^d`.

    Integer modes `0 < |k|_inf <= max_mode`, `a_k = s(|k|) (xi + i eta)` with standard
    normal xi, eta and `s = spectrum` normalised so each point has unit variance. The
    coefficients are drawn for all modes whatever the resolution, so one seed gives the
    same continuous field on every grid; modes the grid cannot carry (2/3 rule) are dropped.
    """
    modes = np.arange(-max_mode, max_mode + 1)
    k_grid = np.meshgrid(*[modes] * ndim, indexing="ij")
    k_norm = np.sqrt(sum(k.astype(float) ** 2 for k in k_grid))
    amplitude = np.where(k_norm > 0, spectrum(np.maximum(k_norm, 1e-12)), 0.0)
    amplitude = amplitude / np.sqrt((amplitude**2).sum())
    shape = (n, *[modes.size] * ndim)
    coefficients = amplitude * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    kept = min(max_mode, (resolution - 1) // 3)
    inner = slice(max_mode - kept, max_mode + kept + 1)
    coefficients = coefficients[(slice(None), *[inner] * ndim)]  # (n, 2 kept + 1, ...)
    index = np.arange(-kept, kept + 1) % resolution
    full = np.zeros((n, *[resolution] * ndim), dtype=complex)
    full[np.ix_(np.arange(n), *[index] * ndim)] = coefficients
    axes = tuple(range(1, ndim + 1))
    return np.fft.ifftn(full, axes=axes).real * resolution**ndim


def integrating_factor_rk4_step(state_hat: np.ndarray, nonlinear: Callable[[np.ndarray], np.ndarray],
                                half_step_factor: np.ndarray, dt: float) -> np.ndarray:
    """One step of integrating-factor RK4 for `d state_hat/dt = -L state_hat + N(state_hat)`.

    The linear part is exact: `half_step_factor = exp(-L dt / 2)` (e.g. `exp(-nu |k|^2 dt / 2)`);
    `nonlinear(state_hat)` returns `N` in spectral space.
    """
    e, e2 = half_step_factor, half_step_factor**2
    a = dt * nonlinear(state_hat)
    b = dt * nonlinear(e * (state_hat + a / 2))
    c = dt * nonlinear(e * state_hat + b / 2)
    d = dt * nonlinear(e2 * state_hat + e * c)
    return e2 * state_hat + (e2 * a + 2 * e * (b + c) + d) / 6


# --- finite volume -------------------------------------------------------------

def _minmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The argument of smaller magnitude where `a` and `b` agree in sign, else 0."""
    return np.maximum(np.minimum(a, b), 0.0) + np.minimum(np.maximum(a, b), 0.0)


def muscl_faces(cells: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Minmod-limited states on each side of face `i + 1/2`, periodic along `axis`.

    `cells (..., n, ...)` -> `(left, right)`, both shaped like `cells`: `left[i]` is
    extrapolated from cell `i`, `right[i]` from cell `i + 1`. The limited states stay
    between neighbouring cell values, so positive quantities stay positive.
    """
    backward = cells - np.roll(cells, 1, axis)
    forward = np.roll(cells, -1, axis) - cells
    half_slope = 0.5 * _minmod(backward, forward)
    return cells + half_slope, np.roll(cells - half_slope, -1, axis)


GHOST_MODES = {"periodic": "wrap", "open": "edge", "reflective": "symmetric"}


def boundary_faces(cells: np.ndarray, axis: int, kind: str,
                   normal: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Minmod-limited states on the n + 1 faces -1/2 .. n - 1/2 along `axis` of
    `cells (N, V, ..., n, ...)` (variables on axis 1), from two ghost cells per end:
    "periodic" wraps, "open" copies the end cell (zero gradient, transmissive),
    "reflective" mirrors the cells and negates variable `normal` (the velocity
    normal to the wall), so no mass or energy crosses it. `axis` counts from the left."""
    width = [(0, 0)] * cells.ndim
    width[axis] = (2, 2)
    padded = np.pad(cells, width, mode=GHOST_MODES[kind])  # (..., n + 4, ...)
    if kind == "reflective" and normal is not None:
        for ghost in (slice(0, 2), slice(-2, None)):
            index = [slice(None)] * cells.ndim
            index[1], index[axis] = normal, ghost
            padded[tuple(index)] *= -1
    kept = [slice(None)] * cells.ndim
    kept[axis] = slice(1, -2)  # padded faces 1 .. n + 1 are the physical -1/2 .. n - 1/2
    left, right = muscl_faces(padded, axis)
    return left[tuple(kept)], right[tuple(kept)]


def hll_flux(u_left: np.ndarray, u_right: np.ndarray, f_left: np.ndarray, f_right: np.ndarray,
             s_left: np.ndarray, s_right: np.ndarray) -> np.ndarray:
    """Harten-Lax-van Leer flux from conserved states `u_*`, physical fluxes `f_*`
    (variables on axis 1) and signal-speed bounds `s_left <= s_right` (no variable axis)."""
    s_l = np.minimum(s_left, 0.0)[:, None]
    s_r = np.maximum(s_right, 0.0)[:, None]
    return (s_r * f_left - s_l * f_right + s_l * s_r * (u_right - u_left)) / (s_r - s_l)


def hll_states(left: np.ndarray, right: np.ndarray,
               physics: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """HLL flux between reconstructed primitive states `left`, `right` (variables on axis 1);
    `physics(state) -> (conserved, flux, slowest, fastest)` with the signal speeds of that state."""
    u_l, f_l, slow_l, fast_l = physics(left)
    u_r, f_r, slow_r, fast_r = physics(right)
    return hll_flux(u_l, u_r, f_l, f_r, np.minimum(slow_l, slow_r), np.maximum(fast_l, fast_r))
