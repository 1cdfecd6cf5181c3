"""Does pretraining help? Few-shot transfer of the starter model to two PDEs it never saw.

    OMP_NUM_THREADS=2 python benchmarks/transfer.py --json runs/transfer/transfer.json
    python benchmarks/transfer.py --quick          # a smoke run: tiny data, a few steps

Two PDEs that are not among the built-in simulators (`pde_data.SIMULATORS`) are
made here with small numpy solvers, vectorised over trajectories and seeded:

- `allen_cahn_1d`: u_t = eps^2 u_xx + u - u^3 on [0, 1), periodic, 128 points,
  eps = 0.015. Fourier pseudo-spectral in x, integrating-factor RK4 in time
  (diffusion exact, reaction explicit, substeps of at most 0.01). From a small
  random smooth field (RMS 0.1, Fourier modes 1..16) the phases u = -1 and
  u = +1 separate, interfaces of width ~ sqrt(2) eps form, and close pairs
  annihilate: about 12 sign changes at the start, 4-5 at the end (t = 3.45).
- `wave_2d`: u_tt = c^2 lap u on [0, 1)^2, periodic, 64^2, c = 1, as two scalar
  fields u and v = u_t. Fourier pseudo-spectral in space and the exact
  propagator in time (each mode rotates: u_k(t) = u_k cos(c|k|t) + v_k sin(c|k|t) / (c|k|)),
  so there is no time-step error and no CFL limit; the energy
  int v^2 + c^2 |grad u|^2 dx is conserved to round-off. Initial u and v are
  sums of 2-4 Gaussian bumps of random sign (v with zero mean, so u has no drift).

Both are written as canonical zarr stores (`pde_data.convert`) under
`--work-dir`. For each PDE and each shot count n (`--shots`, default 8 and 32
training trajectories; validation and test are disjoint trajectories, pde_data's
0.8 / 0.1 / 0.1 split), three models train with the same steps, batch size and
history through `adapters.finetune`: the starter fine-tuned at level 1 (LoRA),
at level 4 (every parameter), and the same architecture from scratch. Each is
scored on the test split (every window: history, then a 10-step rollout):
nRMSE at one step, mean over the 10 steps and at step 10, beside the zero-shot
starter and persistence. The table is printed (markdown) and, with `--json`,
written with every per-step curve.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np

import pde_data
from pde_data import PDEDataset
from pde_data.simulators._common import build_dataset

logger = logging.getLogger("transfer")

# --- solvers -------------------------------------------------------------------------------


def _smooth_field_1d(rng: np.random.Generator, n: int, resolution: int, max_mode: int,
                     slope: float) -> np.ndarray:
    """`(n, resolution)` random periodic fields on [0, 1): Fourier modes 1..max_mode with
    amplitudes ~ k^-slope and random phases, scaled to unit RMS per field."""
    k = np.arange(1, max_mode + 1)
    coeff = (rng.standard_normal((n, max_mode)) + 1j * rng.standard_normal((n, max_mode))) * k**-slope
    spectrum = np.zeros((n, resolution // 2 + 1), dtype=complex)
    spectrum[:, 1:max_mode + 1] = coeff
    field = np.fft.irfft(spectrum, n=resolution)
    return field / np.sqrt((field**2).mean(axis=-1, keepdims=True))


def allen_cahn_evolve(u0: np.ndarray, *, eps: float, frame_dt: float, steps: int,
                      max_dt: float = 0.01) -> np.ndarray:
    """Allen-Cahn u_t = eps^2 u_xx + u - u^3 on [0, 1), periodic: `u0 (N, X)` -> `(N, steps, X)`.

    Integrating-factor RK4 in Fourier space: the diffusion is integrated exactly
    (factor exp(-eps^2 k^2 dt)), the reaction u - u^3 explicitly; its stiffness
    |d/du (u - u^3)| <= 2 for |u| <= 1, so substeps of 0.01 are far inside RK4's
    stability region and accurate to ~1e-10.
    """
    resolution = u0.shape[-1]
    k = 2 * np.pi * np.fft.rfftfreq(resolution, d=1.0 / resolution)
    n_sub = max(1, math.ceil(frame_dt / max_dt - 1e-9))
    dt = frame_dt / n_sub
    e = np.exp(-eps**2 * k**2 * dt / 2)  # half-step integrating factor
    e2 = e * e

    def reaction(u_hat: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(u_hat, n=resolution)
        return dt * np.fft.rfft(u - u**3)

    u_hat = np.fft.rfft(np.asarray(u0, dtype=np.float64))
    frames = [np.fft.irfft(u_hat, n=resolution)]
    for _ in range(steps - 1):
        for _ in range(n_sub):
            a = reaction(u_hat)
            b = reaction(e * (u_hat + a / 2))
            c = reaction(e * u_hat + b / 2)
            d = reaction(e2 * u_hat + e * c)
            u_hat = e2 * u_hat + (e2 * a + 2 * e * (b + c) + d) / 6
        frames.append(np.fft.irfft(u_hat, n=resolution))
    return np.stack(frames, axis=1)


def allen_cahn_1d(n_traj: int, steps: int = 24, resolution: int = 128, seed: int = 0, *,
                  eps: float = 0.015, frame_dt: float = 0.15, amplitude: float = 0.1,
                  max_mode: int = 16) -> PDEDataset:
    """`n_traj` Allen-Cahn trajectories of `steps` frames; field `u (N, T, 1, X)` on x_j = j / X."""
    rng = np.random.default_rng(seed)
    bias = rng.uniform(-0.2, 0.2, size=(n_traj, 1))  # a slight preference for one phase
    u0 = amplitude * (bias + _smooth_field_1d(rng, n_traj, resolution, max_mode, slope=0.5))
    u = allen_cahn_evolve(u0, eps=eps, frame_dt=frame_dt, steps=steps)
    if not np.isfinite(u).all() or np.abs(u).max() > 1.5:
        raise RuntimeError("allen_cahn_1d: the solution left [-1.5, 1.5]; lower frame_dt or max_dt")
    return _dataset("allen_cahn_1d", {"u": u[:, :, None]}, spacing=(1.0 / resolution,), dt=frame_dt,
                    attrs={"equation": "u_t = eps^2 u_xx + u - u^3", "eps": eps, "domain": [0.0, 1.0],
                           "scheme": "Fourier pseudo-spectral, integrating-factor RK4", "seed": seed})


def _gaussian_bumps(rng: np.random.Generator, n: int, resolution: int, amplitude: tuple[float, float],
                    width: tuple[float, float], max_bumps: int = 4) -> np.ndarray:
    """`(n, X, X)`: 2..max_bumps periodic Gaussian bumps of random sign, centre and width on [0, 1)^2."""
    count = rng.integers(2, max_bumps + 1, size=(n, 1))
    amp = rng.uniform(*amplitude, size=(n, max_bumps)) * rng.choice([-1.0, 1.0], size=(n, max_bumps))
    amp = amp * (np.arange(max_bumps) < count)
    sigma = rng.uniform(*width, size=(n, max_bumps))
    cx, cy = rng.uniform(0, 1, size=(2, n, max_bumps, 1))
    x = np.arange(resolution) / resolution
    dx2, dy2 = (((x - c + 0.5) % 1.0 - 0.5) ** 2 for c in (cx, cy))  # periodic distance, (n, B, X)
    squared = dx2[..., :, None] + dy2[..., None, :]
    return (amp[..., None, None] * np.exp(-squared / (2 * sigma[..., None, None] ** 2))).sum(axis=1)


def wave_evolve(u0: np.ndarray, v0: np.ndarray, *, c: float, frame_dt: float, steps: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """u_tt = c^2 lap u on [0, 1)^2, periodic, from `u0`, `v0 = u_t (N, X, X)` -> u, v `(N, steps, X, X)`.

    Exact in time for the Fourier-discretised equation: mode k with w = c |k| evolves as
    u_k(t) = u_k(0) cos(w t) + v_k(0) sin(w t) / w,  v_k(t) = -u_k(0) w sin(w t) + v_k(0) cos(w t)
    (w = 0: u_k(t) = u_k(0) + v_k(0) t).
    """
    resolution = u0.shape[-1]
    kx = 2 * np.pi * np.fft.fftfreq(resolution, d=1.0 / resolution)[:, None]
    ky = 2 * np.pi * np.fft.rfftfreq(resolution, d=1.0 / resolution)[None, :]
    omega = c * np.sqrt(kx**2 + ky**2)
    u_hat0, v_hat0 = np.fft.rfft2(u0), np.fft.rfft2(v0)
    safe = np.where(omega > 0, omega, 1.0)
    us, vs = [], []
    for i in range(steps):
        t = i * frame_dt
        cos, sin = np.cos(omega * t), np.sin(omega * t)
        sin_over_omega = np.where(omega > 0, sin / safe, t)
        us.append(np.fft.irfft2(u_hat0 * cos + v_hat0 * sin_over_omega, s=u0.shape[-2:]))
        vs.append(np.fft.irfft2(-u_hat0 * omega * sin + v_hat0 * cos, s=u0.shape[-2:]))
    return np.stack(us, axis=1), np.stack(vs, axis=1)


def wave_energy(u: np.ndarray, v: np.ndarray, c: float) -> np.ndarray:
    """E = 1/2 int v^2 + c^2 |grad u|^2 dx per trajectory and frame (spectral gradient): `(N, T)`."""
    resolution = u.shape[-1]
    kx = 2 * np.pi * np.fft.fftfreq(resolution, d=1.0 / resolution)[:, None]
    ky = 2 * np.pi * np.fft.fftfreq(resolution, d=1.0 / resolution)[None, :]
    u_hat = np.fft.fft2(u)
    grad_sq = sum(np.abs(np.fft.ifft2(1j * k * u_hat)) ** 2 for k in (kx, ky))
    return 0.5 * (v**2 + c**2 * grad_sq).mean(axis=(-2, -1))


def wave_2d(n_traj: int, steps: int = 24, resolution: int = 64, seed: int = 0, *,
            c: float = 1.0, frame_dt: float = 0.01) -> PDEDataset:
    """`n_traj` wave-equation trajectories; fields `u (N, T, 1, X, Y)` and `v = u_t (N, T, 1, X, Y)`."""
    rng = np.random.default_rng(seed)
    u0 = _gaussian_bumps(rng, n_traj, resolution, amplitude=(0.5, 1.0), width=(0.04, 0.08))
    # v of the size c |grad u| (bump height / width): outgoing rings are then lopsided
    v0 = _gaussian_bumps(rng, n_traj, resolution, amplitude=(5.0, 15.0), width=(0.04, 0.08))
    v0 -= v0.mean(axis=(-2, -1), keepdims=True)  # no mean velocity: the mean of u stays put
    u, v = wave_evolve(u0, v0, c=c, frame_dt=frame_dt, steps=steps)
    energy = wave_energy(u, v, c)
    drift = float(np.abs(energy / energy[:, :1] - 1).max())
    if not drift < 1e-8:
        raise RuntimeError(f"wave_2d: energy drifted by {drift:.2e}")
    return _dataset("wave_2d", {"u": u[:, :, None], "v": v[:, :, None]}, spacing=(1.0 / resolution,) * 2,
                    dt=frame_dt, attrs={"equation": "u_tt = c^2 lap u (fields u, v = u_t)", "c": c,
                                        "domain": [[0.0, 1.0]] * 2, "energy_drift": drift,
                                        "scheme": "Fourier pseudo-spectral, exact propagator", "seed": seed})


def _dataset(name: str, fields: dict[str, np.ndarray], *, spacing: tuple[float, ...], dt: float,
             attrs: dict[str, Any]) -> PDEDataset:
    """Float32 `{field: (N, T, C, *space)}` -> a `PDEDataset` with a periodic spec and statistics."""
    dataset = build_dataset(name, fields, spacing=spacing, dt=dt, boundary_conditions=("periodic",) * len(spacing),
                            attrs=attrs)
    dataset.spec.source, dataset.spec.format = f"benchmarks/transfer.py:{name}", "numpy"
    return dataset


PDES: dict[str, Callable[..., PDEDataset]] = {"allen_cahn_1d": allen_cahn_1d, "wave_2d": wave_2d}

# --- benchmark -----------------------------------------------------------------------------

#: The three trainings per (PDE, shot count): label -> FinetuneConfig keys.
TRAININGS: dict[str, dict[str, Any]] = {
    "fine-tuned L1 (LoRA)": {"level": 1},
    "fine-tuned L4 (full)": {"level": 4},
    "from scratch": {"level": 4, "from_scratch": True},
}


def make_store(name: str, work: Path, n_traj: int, frames: int, seed: int) -> Path:
    """Simulate `name` and write it as a canonical zarr store (once per setting)."""
    path = work / "data" / f"{name}-n{n_traj}-t{frames}-s{seed}.zarr"
    if path.exists():
        logger.info("%s: reusing %s", name, path)
        return path
    start = time.perf_counter()
    dataset = PDES[name](n_traj, steps=frames, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pde_data.convert(dataset, path, overwrite=True, progress=False)
    logger.info("%s: %d trajectories x %d frames, grid %s, fields %s, simulated and written in %.1f s -> %s",
                name, n_traj, frames, dataset.spec.grid_shape, dataset.spec.field_names,
                time.perf_counter() - start, path)
    return path


RUN_FILE = "transfer_run.json"


def run_one(store: Path, out: Path, shots: int, training: dict[str, Any], args: argparse.Namespace
            ) -> dict[str, Any]:
    """One training through `adapters.finetune`, with its test figures (`rollouts.compare`); with
    `--resume`, a training that already finished in `out` with the same settings is read back instead
    of run again."""
    from adapters import FinetuneConfig, finetune
    from adapters.finetune import DEFAULT_LR, SCRATCH_LR
    from morph.checkpoint import load_pretrained
    from rollouts import compare

    config = FinetuneConfig(checkpoint="starter", data=str(store), output_dir=str(out), n_traj=shots,
                            history=args.history, horizon=args.horizon,
                            train=dict(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                       checkpoint_every=args.steps, keep_checkpoints=1),
                            **training)
    settings = {"config": config.to_dict(), "lr": SCRATCH_LR if config.from_scratch else DEFAULT_LR[config.level]}
    saved = out / RUN_FILE
    if args.resume and saved.is_file():
        previous = json.loads(saved.read_text())
        if previous.get("settings") == settings:
            logger.info("reusing the finished training in %s", out)
            return {**previous, "reused": True}
    if out.exists():
        shutil.rmtree(out)  # an interrupted or different earlier training
    start = time.perf_counter()
    result = finetune(config, progress=args.progress)
    scores = compare({result.label: load_pretrained(result.output_dir),
                      f"zero-shot ({config.checkpoint})": load_pretrained(result.base)},
                     result.dataset, history=result.history, horizon=result.horizon, split="test")
    run = {"test": scores.rows, "trainable_parameters": result.trainable_parameters,
           "steps": result.train.steps, "final_loss": result.train.final_loss,
           "history": json.loads((out / "finetune.json").read_text())["history"],
           "lr": json.loads((out / "train_config.json").read_text())["lr"],
           "seconds": time.perf_counter() - start, "output_dir": str(out), "settings": settings}
    saved.write_text(json.dumps(run, indent=2, default=float) + "\n")
    return run


def _split_sizes(n_traj: int) -> dict[str, int]:
    return {k: len(v) for k, v in pde_data.split_trajectories(n_traj).items()}


def table(results: dict[str, Any], horizon: int) -> str:
    """Markdown: one row per (PDE, shots, model), test nRMSE (fields averaged)."""
    lines = [f"| PDE | n train traj | model | nRMSE 1 step | mean over {horizon} steps | at step {horizon} "
             f"| diverged |", "|---|---|---|---|---|---|---|"]
    for pde, per_pde in results.items():
        baselines = per_pde.get("baselines", {})
        for label, row in baselines.items():
            lines.append(f"| {pde} | - | {label} | {row['step_1']:.4f} | {row['horizon']:.4f} "
                         f"| {row['last']:.4f} | {row['diverged']}/{row['windows']} |")
        for shots, runs in per_pde["shots"].items():
            for label, run in runs.items():
                row = run["model"]
                lines.append(f"| {pde} | {shots} | {label} | {row['step_1']:.4f} | {row['horizon']:.4f} "
                             f"| {row['last']:.4f} | {row['diverged']}/{row['windows']} |")
    return "\n".join(lines)


def verdict(results: dict[str, Any]) -> str:
    """One line per (PDE, shots): scratch / fine-tuned ratio of the rollout nRMSE (> 1: pretraining helps)."""
    lines = []
    for pde, per_pde in results.items():
        for shots, runs in per_pde["shots"].items():
            scratch = runs.get("from scratch", {}).get("model")
            if scratch is None:
                continue
            parts = []
            for label, run in runs.items():
                if label == "from scratch":
                    continue
                m = run["model"]
                parts.append(f"{label}: 1 step x{scratch['step_1'] / m['step_1']:.2f}, "
                             f"rollout x{scratch['horizon'] / m['horizon']:.2f}")
            lines.append(f"- {pde}, n={shots}: scratch error / fine-tuned error -- " + "; ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps of every training (same for all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shots", type=int, nargs="+", default=[8, 32], help="training trajectories")
    parser.add_argument("--pdes", nargs="+", default=list(PDES), choices=list(PDES))
    parser.add_argument("--models", nargs="+", default=list(TRAININGS), choices=list(TRAININGS),
                        metavar="MODEL", help=f"subset of {list(TRAININGS)}")
    parser.add_argument("--n-traj", type=int, default=100, help="trajectories simulated per PDE "
                                                                "(split 0.8 / 0.1 / 0.1)")
    parser.add_argument("--frames", type=int, default=24, help="frames per trajectory")
    parser.add_argument("--history", type=int, default=None, help="history frames (default: the starter's)")
    parser.add_argument("--horizon", type=int, default=10, help="rollout steps of the test evaluation")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the data seed is fixed per PDE)")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/transfer"))
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--progress", action="store_true", help="progress bars of the trainer")
    parser.add_argument("--resume", action="store_true",
                        help="reuse trainings that already finished in --work-dir with the same settings")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20 trajectories, shots 4, 10 steps, batch 4, horizon 4")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_traj, args.shots, args.steps, args.batch_size, args.horizon = 20, [4], 10, 4, 4
        args.frames = min(args.frames, 12)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("accelerate", "morph", "adapters", "rollouts", "peft"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sizes = _split_sizes(args.n_traj)
    if max(args.shots) > sizes["train"]:
        parser.error(f"--shots {max(args.shots)}: {args.n_traj} trajectories leave {sizes['train']} "
                     f"for training; raise --n-traj")
    windows_per_traj = max(0, (args.frames - (args.history or 4) - args.horizon) // args.horizon + 1)
    logger.info("split of %d trajectories: %s; test windows (history %s, horizon %d, stride %d): %d",
                args.n_traj, sizes, args.history or "4 (starter)", args.horizon, args.horizon,
                sizes["test"] * windows_per_traj)

    import torch
    logger.info("torch %s, %d threads; %d steps x batch %d per training; shots %s; PDEs %s",
                torch.__version__, torch.get_num_threads(), args.steps, args.batch_size, args.shots, args.pdes)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    total = len(args.pdes) * len(args.shots) * len(args.models)
    done = 0
    for pde_index, pde in enumerate(args.pdes):
        store = make_store(pde, args.work_dir, args.n_traj, args.frames, seed=1000 + pde_index)
        per_pde: dict[str, Any] = {"store": str(store), "shots": {}}
        for shots in args.shots:
            runs: dict[str, Any] = {}
            for label in args.models:
                out = args.work_dir / pde / f"n{shots}" / label.split(" (")[0].replace(" ", "_")
                logger.info("[%d/%d] %s n=%d %s: training %d steps -> %s", done + 1, total, pde, shots, label,
                            args.steps, out)
                run = run_one(store, out, shots, TRAININGS[label], args)
                done += 1
                model_row = next(v for k, v in run["test"].items()
                                 if k.startswith(("fine-tuned", "from scratch")))
                per_pde.setdefault("baselines", {
                    k: v for k, v in run["test"].items() if k.startswith(("zero-shot", "persistence"))})
                runs[label] = {**run, "model": model_row}
                elapsed = time.perf_counter() - started
                logger.info("[%d/%d] %s n=%d %s: %d trainable, lr %.0e, %.0f s; test nRMSE 1 step %.4f, "
                            "%d-step mean %.4f (%.1f min elapsed)", done, total, pde, shots, label,
                            run["trainable_parameters"], run["lr"], run["seconds"], model_row["step_1"],
                            args.horizon, model_row["horizon"], elapsed / 60)
            per_pde["shots"][shots] = runs
        results[pde] = per_pde
    minutes = (time.perf_counter() - started) / 60
    text = table(results, args.horizon)
    training_minutes = sum(run["seconds"] for per_pde in results.values() for runs in per_pde["shots"].values()
                           for run in runs.values()) / 60
    print(f"\n{text}\n\n{verdict(results)}\n\n{total} trainings of {args.steps} steps x batch {args.batch_size}: "
          f"{training_minutes:.1f} min of training and evaluation, this invocation {minutes:.1f} min")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"date": date.today().isoformat(), "machine": f"{os.cpu_count()}-core {platform.machine()} CPU",
                  "threads": torch.get_num_threads(), "torch": torch.__version__, "minutes": minutes,
                  "training_minutes": training_minutes,
                  "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  "splits": sizes, "results": results, "table": text}
        args.json.write_text(json.dumps(record, indent=2, default=float) + "\n")
        logger.info("wrote %s", args.json)
    return results


if __name__ == "__main__":
    main()
