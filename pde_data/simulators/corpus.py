"""Build the whole built-in corpus: every simulator's canonical stores and a manifest.

`build_corpus(out_dir, scale)` writes, for each simulator (or those named in
`only`), one or more canonical zarr stores per plan entry (boundary kind x
resolution; at most `PART_SIZE` trajectories per store, each part its own
seed), and `corpus.json`, the manifest: the simulators with their dimensions,
fields, boundaries and parameter ranges, and per store its path, boundary,
resolution, trajectories, frames, frame_dt, seed, parameter ranges, size on
disk and seconds taken.

Scales (trajectories per plan entry, frames, resolutions, boundaries):
- "tiny": 16 trajectories of 20 frames at a small grid (64 in 1D, 32 in 2D, 16
  in 3D, or the simulator's default if smaller), default boundary plus one wall
  kind where the simulator has walls. Under 2 minutes on 2 CPU cores.
- "small": 32 trajectories of 20 frames at the default resolution, same boundaries.
- "full": 256 trajectories of 20 frames at the default resolution and, in 1D
  and 2D, also at half of it; same boundaries.

The original five simulators are drawn from wider ranges than their
`generate` defaults (`CORPUS_RANGES`, inside their stable ranges); the others
use their default ranges.

Resume: every store is written atomically (`pde_data.convert`), so a path that
exists is a complete store; a store is kept when it opens and matches its plan
entry (simulator, grid, trajectories, frames, seed, boundary), and rebuilt
otherwise; leftovers of an interrupted write are removed. The manifest is
rewritten atomically after each store. A directory that is not empty and holds
no corpus manifest is refused with a `DataError`, as is a corpus of another scale.

Training on a corpus: a dataset named `corpus:DIR` (`CORPUS_PREFIX`) is every store of the corpus
in DIR; `corpus_stores(DIR, exclude, simulator_weights)` lists them from the manifest with the
share of the dataset's weight each one gets.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union


from pde_data.dataset import PDEDataset
from pde_data.errors import DataError
from pde_data.files import write_text_atomic
from pde_data.progress import progress_bar
from pde_data.simulators import SIMULATORS, Simulator, generate
from pde_data.simulators._parameters import describe_parameters
from pde_data.readers import convert
from pde_data.store import is_store, open_store

__all__ = ["CORPUS_PREFIX", "CORPUS_RANGES", "MANIFEST", "SCALES", "build_corpus", "corpus_stores", "generate_store",
           "plan_corpus"]

logger = logging.getLogger(__name__)

MANIFEST = "corpus.json"
#: A dataset named `corpus:DIR` is every store of the corpus in DIR (`corpus_stores`).
CORPUS_PREFIX = "corpus:"
CORPUS_VERSION = 1
PART_SIZE = 32  # trajectories per store at most: bounded memory while generating
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"n_traj": 16, "steps": 20, "resolution": {1: 64, 2: 32, 3: 16}, "coarse": False},
    "small": {"n_traj": 32, "steps": 20, "resolution": None, "coarse": False},
    "full": {"n_traj": 256, "steps": 20, "resolution": None, "coarse": True},
}
# wider than the narrow generate() defaults of the original five, inside their stable ranges
CORPUS_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "burgers_1d": {"viscosity": (0.01, 0.05)},
    "euler_1d": {"gamma": (1.2, 1.67)},
    "shallow_water_2d": {"gravity": (0.5, 2.0)},
    "navier_stokes_2d": {"viscosity": (1.5e-3, 5e-3)},
    "advection_diffusion_3d": {"diffusivity": (0.03, 0.2)},
}
WALLS = ("neumann", "dirichlet", "reflective")


@dataclass(frozen=True)
class StorePlan:
    """One store of the corpus: `generate(simulator, n_traj, steps, resolution, seed, boundary=...)`."""

    path: str  # relative to the corpus directory
    simulator: str
    boundary: Optional[str]
    resolution: int
    n_traj: int
    steps: int
    seed: int
    parameters: dict[str, Any]


def _boundaries(sim: Simulator) -> list[Optional[str]]:
    """The default boundary (None when the simulator has one kind only) plus its first wall kind."""
    if len(sim.boundaries) == 1:
        return [None]
    walls = [b for b in sim.boundaries if b in WALLS]
    default = sim.boundaries[0]
    return [default] + ([walls[0]] if walls and default not in WALLS else [])


def _resolutions(sim: Simulator, scale: str) -> list[int]:
    settings = SCALES[scale]
    if settings["resolution"] is not None:
        return [min(sim.default_resolution, settings["resolution"][sim.n_spatial_dims])]
    coarse = [max(16, sim.default_resolution // 2)] if settings["coarse"] and sim.n_spatial_dims < 3 else []
    return sorted({*coarse, sim.default_resolution})


def _check_only(only: Optional[Iterable[str]]) -> list[str]:
    names = sorted(SIMULATORS) if only is None else list(only)
    unknown = [n for n in names if n not in SIMULATORS]
    if unknown or not names:
        raise DataError(f"only={list(only or [])!r}: unknown simulator(s) {unknown or '(none given)'}; "
                        f"available: {', '.join(sorted(SIMULATORS))}")
    return names


def plan_corpus(scale: str = "tiny", only: Optional[Iterable[str]] = None, seed: int = 0) -> list[StorePlan]:
    """The stores `build_corpus` writes for `scale`, in order, each with its own seed."""
    if scale not in SCALES:
        raise DataError(f"scale={scale!r} is not a corpus scale; choose one of {', '.join(SCALES)}")
    settings = SCALES[scale]
    plans = []
    for name in sorted(_check_only(only)):
        sim = SIMULATORS[name]
        for boundary in _boundaries(sim):
            for resolution in _resolutions(sim, scale):
                n_parts = -(-settings["n_traj"] // PART_SIZE)
                for part in range(n_parts):
                    n_traj = min(PART_SIZE, settings["n_traj"] - part * PART_SIZE)
                    stem = f"{name}-{boundary or sim.boundaries[0]}-r{resolution}"
                    stem += f"-p{part}" if n_parts > 1 else ""
                    store_seed = seed * 100_003 + len(plans)
                    plans.append(StorePlan(f"{stem}.zarr", name, boundary, resolution, n_traj, settings["steps"],
                                           store_seed, dict(CORPUS_RANGES.get(name, {}))))
    return plans


def generate_store(plan: StorePlan, n_traj: Optional[int] = None) -> PDEDataset:
    """The store `plan` describes, simulated in memory (with `n_traj` trajectories instead of the
    plan's when given: the same simulator, boundary, resolution, parameter ranges and seed)."""
    extra = {} if plan.boundary is None else {"boundary": plan.boundary}
    return generate(plan.simulator, n_traj=plan.n_traj if n_traj is None else n_traj, steps=plan.steps,
                    resolution=plan.resolution, seed=plan.seed, **plan.parameters, **extra)


def _store_matches(path: Path, plan: StorePlan) -> bool:
    """True when `path` is a canonical store holding exactly what `plan` asks for."""
    if not is_store(str(path)):
        return False
    try:
        spec = open_store(str(path)).spec
    except (DataError, OSError, ValueError, KeyError):
        return False
    sim = SIMULATORS[plan.simulator]
    boundary = [plan.boundary or sim.boundaries[0]] * sim.n_spatial_dims
    return (spec.attrs.get("seed") == plan.seed and spec.n_trajectories == plan.n_traj
            and spec.n_steps == plan.steps and spec.grid_shape == (plan.resolution,) * sim.n_spatial_dims
            and spec.source == f"simulator:{plan.simulator}"
            and (plan.boundary is None or spec.attrs.get("boundary") == boundary))


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _with_totals(manifest: dict[str, Any]) -> dict[str, Any]:
    stores = manifest["stores"].values()
    manifest.update(n_stores=len(stores), total_bytes=sum(s["bytes"] for s in stores),
                    total_seconds=round(sum(s["seconds"] for s in stores), 3))
    return manifest


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2, default=float))


def _open_directory(out: Path, scale: str) -> dict[str, Any]:
    """The existing manifest of `out` (after the checks), or a new one; `out` exists afterwards."""
    manifest_path = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise DataError(f"out_dir={str(out)!r} is a file; give a directory for the corpus")
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as err:
            raise DataError(f"{manifest_path} is not a corpus manifest ({err}); use another directory") from err
        if manifest.get("morph_pde_corpus") != CORPUS_VERSION:
            raise DataError(f"{manifest_path} is not a morph-pde corpus manifest; use another directory")
        if manifest.get("scale") != scale:
            raise DataError(f"out_dir={str(out)!r} holds a corpus of scale {manifest.get('scale')!r}, not "
                            f"{scale!r}; use scale={manifest.get('scale')!r} to resume it or another directory")
        return manifest
    if out.is_dir() and any(out.iterdir()):
        raise DataError(f"out_dir={str(out)!r} is not empty and holds no corpus ({MANIFEST} missing); "
                        "refusing to write into it: give an empty or new directory")
    out.mkdir(parents=True, exist_ok=True)
    return {"morph_pde_corpus": CORPUS_VERSION, "scale": scale, "stores": {}}


def build_corpus(out_dir: Union[str, os.PathLike], scale: str = "tiny", only: Optional[Sequence[str]] = None,
                 progress: bool = True, seed: int = 0) -> dict[str, Any]:
    """Write the corpus of `scale` under `out_dir` (resuming one already there) and return its manifest.

    `only` restricts it to those simulators (stores of the others already there are kept);
    `progress` shows a bar over the stores. See the module docstring for scales and resume.
    """
    plans = plan_corpus(scale, only, seed)
    out = Path(out_dir)
    manifest = _open_directory(out, scale)
    manifest["simulators"] = {
        name: {"dims": sim.n_spatial_dims, "fields": dict(sim.fields), "boundaries": list(sim.boundaries),
               "default_resolution": sim.default_resolution, "parameters": describe_parameters(sim.physics),
               "corpus_ranges": {k: list(v) for k, v in CORPUS_RANGES.get(name, {}).items()}}
        for name, sim in sorted(SIMULATORS.items())}
    stores: dict[str, Any] = manifest["stores"]
    manifest["complete"] = False  # until every planned store is written: training refuses it meanwhile
    _write_manifest(out, _with_totals(manifest))
    for plan in progress_bar(plans, desc=f"corpus {scale}", unit="store", enabled=progress):
        path = out / plan.path
        for leftover in out.glob(f".{plan.path}.*"):  # an interrupted write of this store
            shutil.rmtree(leftover, ignore_errors=True)
        if plan.path in stores and _store_matches(path, plan):
            logger.info("keeping %s (complete)", path)
            continue
        if path.exists():
            logger.info("rebuilding %s (incomplete or from another plan)", path)
            stores.pop(plan.path, None)
            _write_manifest(out, _with_totals(manifest))
            shutil.rmtree(path)
        started = time.perf_counter()
        dataset = generate_store(plan)
        convert(dataset, path, progress=False)
        entry = asdict(plan)
        entry.update(frame_dt=dataset.spec.dt, bytes=_size(path), seconds=round(time.perf_counter() - started, 3),
                     boundary_conditions=list(dataset.spec.boundary_conditions),
                     drawn_ranges={k: v for k, v in dataset.spec.attrs.items()
                                   if k in dataset.spec.attrs.get("trajectory_parameters", {})})
        stores[plan.path] = entry
        _write_manifest(out, _with_totals(manifest))
    manifest["complete"] = True
    _write_manifest(out, _with_totals(manifest))
    return manifest


def corpus_stores(directory: Union[str, os.PathLike], exclude: Iterable[str] = (),
                  simulator_weights: Optional[dict[str, float]] = None) -> list[tuple[str, float]]:
    """`(path, share)` of each store of the complete corpus in `directory` (its manifest), less the
    simulators in `exclude`. Paths are `directory` as given joined with the store's path (no machine's
    absolute path when `directory` is relative); shares sum to 1: each simulator gets a share in proportion
    to its `simulator_weights` entry (1 if none), split evenly among its stores. A `DataError` names a
    missing, unfinished or foreign manifest and an unknown simulator of `exclude` or `simulator_weights`."""
    directory = Path(directory)
    exclude, simulator_weights = list(exclude), dict(simulator_weights or {})
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        stores = manifest["stores"]
    except FileNotFoundError:
        raise DataError(f"{manifest_path} does not exist; build the corpus first "
                        f"(morph data corpus --out {directory})") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{manifest_path} is not a corpus manifest ({err}); build the corpus again "
                        f"(morph data corpus --out {directory})") from err
    if not stores or not manifest.get("complete", False):
        raise DataError(f"the corpus in {directory} is not complete (its build was interrupted); finish it with "
                        f"the same morph data corpus command (it resumes)")
    per_simulator: dict[str, list[str]] = {}
    for path, entry in sorted(stores.items()):
        per_simulator.setdefault(entry["simulator"], []).append(path)
    for key, names in (("exclude", exclude), ("simulator_weights", simulator_weights)):
        unknown = sorted(set(names) - set(per_simulator))
        if unknown:
            raise DataError(f"{key} names {', '.join(unknown)}, not in the corpus; it holds "
                            f"{', '.join(per_simulator)}")
    kept = {name: paths for name, paths in per_simulator.items() if name not in exclude}
    if not kept:
        raise DataError(f"exclude leaves out every simulator of the corpus ({', '.join(per_simulator)}); keep at "
                        f"least one")
    relative = {name: simulator_weights.get(name, 1.0) for name in kept}
    total = sum(relative.values())
    return [(str(directory / path), relative[name] / total / len(paths)) for name, paths in kept.items()
            for path in paths]
