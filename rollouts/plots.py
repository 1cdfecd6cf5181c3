"""Truth / prediction / error side by side, as a still image or a GIF.

One row per real (field, component); three columns: truth, prediction, error.
Stills: 1D data as space-time images (space across, step up); 2D data as frames
at a few steps; 3D data as the mid-plane slice (middle of D) at a few steps.
GIFs: one frame per step (1D as curves, 2D frames, 3D mid-planes). Colour
limits are fixed per row over all steps, the error's symmetric around 0.
Spatial axes are labelled with the dataset's axis names (and units) and drawn
at its coordinates (`DatasetSpec.axis_values`: the file's, else spacing x index);
without a spec, x, y, z at the grid index.
Figures are drawn with the Agg canvas, whatever the pyplot backend.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
import torch

from pde_data import DataError, DatasetSpec
from pde_data.files import atomic_file

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_rollout"]

logger = logging.getLogger(__name__)

STILL_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def _panels(pred: np.ndarray, true: np.ndarray, spec: Optional[DatasetSpec],
            field_names: Optional[Sequence[str]]) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]], int]:
    """Row labels, `(truth, prediction)` per row as `(K, D, H, W)`, and the number of spatial dims."""
    k, f, c = pred.shape[:3]
    if spec is not None:
        names, components, n_dims = spec.field_names, spec.components, spec.n_spatial_dims
    else:
        names = list(field_names) if field_names is not None else [f"field{i}" for i in range(f)]
        components = [c] * f
        d, h = pred.shape[3:5]
        n_dims = 3 if d > 1 else 2 if h > 1 else 1
    if len(names) != f:
        raise DataError(f"plot_rollout: {len(names)} field names for {f} fields")
    labels, rows = [], []
    for fi, (name, nc) in enumerate(zip(names, components)):
        for ci in range(nc):
            labels.append(name if nc == 1 else f"{name}[{ci}]")
            rows.append((true[:, fi, ci], pred[:, fi, ci]))
    return labels, rows, n_dims


def _shown_axes(spec: Optional[DatasetSpec], grid: Sequence[int], n_dims: int) -> list[tuple[str, np.ndarray]]:
    """(label, coordinate values) of the axes drawn: 1D the one axis; 2D the first across and the second up;
    3D the second across and the third up (the mid-plane of the first)."""
    sizes = list(grid)[3 - n_dims:]
    if spec is not None:
        names = list(spec.axis_names)
        axes = [(name + (f" [{spec.coordinate_units[name]}]" if name in spec.coordinate_units else ""),
                 np.asarray(spec.axis_values(name))) for name in names]
    else:
        axes = [(name, np.arange(n, dtype=np.float64)) for name, n in zip("xyz", sizes)]
    return axes if n_dims < 3 else axes[1:]


def _extent(across: np.ndarray, up: np.ndarray) -> tuple[float, float, float, float]:
    """imshow's extent for cells centred on the coordinates `across` and `up`."""
    return (*_edges(across), *_edges(up))


def _edges(values: np.ndarray) -> tuple[float, float]:
    half = (values[-1] - values[0]) / (len(values) - 1) / 2 if len(values) > 1 else 0.5
    return float(values[0] - half), float(values[-1] + half)


def _label(ax, axes: list[tuple[str, np.ndarray]], up: Optional[str] = None) -> None:
    """Axis labels (small) and small tick labels."""
    ax.set_xlabel(axes[0][0], fontsize=8, labelpad=1)
    ax.set_ylabel(up if up is not None else axes[1][0], fontsize=8, labelpad=1)
    ax.tick_params(labelsize=6)


def _image(volume: np.ndarray, n_dims: int) -> np.ndarray:
    """`(D, H, W)` -> the image shown, first grid axis across: 2D (H, W) -> (W, H); 3D: the mid-depth
    plane, likewise."""
    if n_dims == 2:
        return volume[0].T
    elif n_dims == 3:
        return volume[volume.shape[0] // 2].T
    else:
        raise ValueError(f"images are for 2D or 3D data, got {n_dims}D")


def _limits(truth: np.ndarray, pred: np.ndarray) -> tuple[tuple[float, float], float]:
    values = np.concatenate([truth[np.isfinite(truth)], pred[np.isfinite(pred)]])
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    err = pred - truth
    err = err[np.isfinite(err)]
    bound = float(np.abs(err).max()) if err.size else 1.0
    return (low, high if high > low else low + 1.0), (bound if bound > 0 else 1.0)


def _figure(n_rows: int) -> tuple["Figure", np.ndarray]:
    """A figure of `n_rows` x 3 panels on the Agg canvas (no per-frame layout engine: GIFs stay fast)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 2.6 * n_rows + 0.9  # inches; 0.8 for the title
    fig = Figure(figsize=(9, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, 3, squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.95, bottom=0.45 / height, top=1 - 0.75 / height,
                        wspace=0.35, hspace=0.55)
    return fig, axes


def _title(fig: "Figure", text: str) -> Any:
    """The figure title, in the band `_figure` keeps free above the panels."""
    return fig.suptitle(text, y=1 - 0.12 / fig.get_figheight(), va="top")


def _style(kind: int, low: float, high: float, bound: float) -> dict:
    return dict(vmin=-bound, vmax=bound, cmap="RdBu_r") if kind == 2 else dict(vmin=low, vmax=high, cmap="viridis")


def _still(labels: list[str], rows: list, n_dims: int, grid_axes: list, steps: Sequence[int], title: str) -> "Figure":
    k = rows[0][0].shape[0]
    per_row = [None] if n_dims == 1 else list(steps)
    fig, axes = _figure(len(rows) * len(per_row))
    for r, (label, (truth, pred)) in enumerate(zip(labels, rows)):
        (low, high), bound = _limits(truth, pred)
        for j, s in enumerate(per_row):
            ax_row = axes[r * len(per_row) + j]
            if n_dims == 1:  # space-time: (K, W), step upwards
                images = (truth[:, 0, 0], pred[:, 0, 0], pred[:, 0, 0] - truth[:, 0, 0])
                extent = (*_edges(grid_axes[0][1]), 0.5, k + 0.5)
                name = label
            else:
                images = (_image(truth[s], n_dims), _image(pred[s], n_dims), _image(pred[s] - truth[s], n_dims))
                extent = _extent(grid_axes[0][1], grid_axes[1][1])
                name = f"{label}, step {s + 1}"
            for col, (ax, image, kind) in enumerate(zip(ax_row, images, ("truth", "prediction", "error"))):
                shown = ax.imshow(image, origin="lower", aspect="auto", extent=extent, interpolation="nearest",
                                  **_style(col, low, high, bound))
                if col:  # truth and prediction share the colour scale
                    fig.colorbar(shown, ax=ax, fraction=0.08, pad=0.03)
                ax.set_title(f"{name}: {kind}", fontsize=9)
                _label(ax, grid_axes, up="step" if n_dims == 1 else None)
    _title(fig, title)
    return fig


def _animate(labels: list[str], rows: list, n_dims: int, grid_axes: list, title: str, path: Path, fps: int) -> None:
    from matplotlib.animation import FuncAnimation, PillowWriter

    k = rows[0][0].shape[0]
    fig, axes = _figure(len(rows))
    artists = []
    for r, (label, (truth, pred)) in enumerate(zip(labels, rows)):
        (low, high), bound = _limits(truth, pred)
        row = []
        for col, kind in enumerate(("truth", "prediction", "error")):
            ax = axes[r, col]
            ax.set_title(f"{label}: {kind}", fontsize=9)
            _label(ax, grid_axes, up=label if n_dims == 1 else None)
            first = (truth[0], pred[0], pred[0] - truth[0])[col]
            if n_dims == 1:
                (line,) = ax.plot(grid_axes[0][1], first[0, 0])
                ax.set_ylim(*((-bound, bound) if col == 2 else (low, high)))
                row.append(line)
            else:
                image = ax.imshow(_image(first, n_dims), origin="lower", aspect="auto", interpolation="nearest",
                                  extent=_extent(grid_axes[0][1], grid_axes[1][1]), **_style(col, low, high, bound))
                if col:
                    fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03)
                row.append(image)
        artists.append(row)
    heading = _title(fig, f"{title}, step 1/{k}")

    def draw(s: int) -> list:
        heading.set_text(f"{title}, step {s + 1}/{k}")
        for (truth, pred), row in zip(rows, artists):
            for col, artist in enumerate(row):
                frame = (truth[s], pred[s], pred[s] - truth[s])[col]
                if n_dims == 1:
                    artist.set_ydata(frame[0, 0])
                else:
                    artist.set_data(_image(frame, n_dims))
        return [a for row in artists for a in row]

    animation = FuncAnimation(fig, draw, frames=k, blit=False)
    animation.save(str(path), writer=PillowWriter(fps=fps), dpi=72)


def plot_rollout(prediction: Union[torch.Tensor, np.ndarray], truth: Union[torch.Tensor, np.ndarray],
                 path: Optional[Union[str, Path]] = None, *, spec: Optional[DatasetSpec] = None,
                 field_names: Optional[Sequence[str]] = None, steps: Optional[Sequence[int]] = None,
                 sample: int = 0, fps: int = 4, title: str = "") -> Union[Path, "Figure"]:
    """Plot truth, prediction and error of a rollout; write `path` (.png/.pdf/.svg/.jpg or .gif).

    prediction, truth: `(K, F, C, D, H, W)` or `(B, K, F, C, D, H, W)` (then `sample` is shown).
    spec: field names, component counts (padding is not drawn) and spatial dims;
        without it `field_names` (or field0, ...) and every component are shown.
    steps: 0-based steps shown by a still of 2D/3D data (default: first, middle, last).
    Returns `path` once written, or the matplotlib `Figure` of the still when `path` is None.
    """
    pred = prediction.detach().cpu().numpy() if isinstance(prediction, torch.Tensor) else np.asarray(prediction)
    true = truth.detach().cpu().numpy() if isinstance(truth, torch.Tensor) else np.asarray(truth)
    if pred.ndim == 7:
        pred, true = pred[sample], true[sample]
    if pred.ndim != 6 or pred.shape != true.shape:
        raise DataError(f"plot_rollout: prediction and truth must be (K, F, C, D, H, W) of one shape, "
                        f"got {pred.shape} and {true.shape}")
    k = pred.shape[0]
    labels, rows, n_dims = _panels(pred, true, spec, field_names)
    axes = _shown_axes(spec, pred.shape[3:], n_dims)
    steps = sorted({0, k // 2, k - 1}) if steps is None else list(steps)
    if any(not 0 <= s < k for s in steps):
        raise DataError(f"plot_rollout: steps {steps} outside 0..{k - 1}")
    title = title or (spec.name if spec is not None else "rollout")
    if path is None:
        return _still(labels, rows, n_dims, axes, steps, title)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*STILL_SUFFIXES, ".gif"):
        raise DataError(f"{path}: unknown plot format {path.suffix!r}; use .png, .pdf, .svg, .jpg or .gif")
    if not path.parent.exists():
        raise DataError(f"{path}: the directory {path.parent} does not exist; create it first")
    with atomic_file(path) as tmp:
        if suffix == ".gif":
            _animate(labels, rows, n_dims, axes, title, tmp, fps)
        else:
            _still(labels, rows, n_dims, axes, steps, title).savefig(tmp, dpi=72)
    logger.debug("wrote %s", path)
    return path
