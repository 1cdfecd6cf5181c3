"""Random-window throughput from a canonical store, cold page cache.

Writes a 2D store with 4 fields (density, pressure, a 2-vector velocity,
tracer: 5 components) at 128^2, evicts it from the OS page cache, then reads
random windows (history k + 1 target) through a DataLoader with worker
processes and reports samples/s and MB/s.

    python -m benchmarks.data_throughput --workers 2 --history 4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

import pde_data
from pde_data import DatasetSpec, FieldSpec, PDEDataset, WindowDataset, collate


def make_store(root: Path, n_traj: int, steps: int, resolution: int) -> PDEDataset:
    rng = np.random.default_rng(0)
    fields = [FieldSpec("density", 1), FieldSpec("pressure", 1), FieldSpec("velocity", 2), FieldSpec("tracer", 1)]
    grid = (resolution, resolution)
    # smooth-ish random data compresses like real fields, unlike white noise
    base = rng.standard_normal((n_traj, steps, 5, *grid)).astype(np.float32)
    base = np.cumsum(base, axis=-1) / np.sqrt(resolution)
    arrays, c0 = {}, 0
    for f in fields:
        arrays[f.name] = base[:, :, c0:c0 + f.components]
        c0 += f.components
    spec = DatasetSpec("bench_2d", grid, fields, n_traj, steps, dt=0.1, boundary_conditions=("periodic",) * 2)
    return pde_data.convert(PDEDataset(spec, arrays), root / "bench.zarr", progress=False)


def evict_from_page_cache(path: Path) -> int:
    """Ask the OS to drop a file, or a store's files, from the page cache (cold reads); their bytes."""
    total = 0
    for file in [path] if path.is_file() else path.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            total += file.stat().st_size
    return total


def random_window_loader(dataset: PDEDataset, args: argparse.Namespace) -> DataLoader:
    """`args.samples` random windows of `dataset` (the same ones on every call) in batches, read by
    `args.workers` loader processes."""
    windows = WindowDataset(dataset, history=args.history, split="all")
    sampler = RandomSampler(windows, replacement=True, num_samples=args.samples,
                            generator=torch.Generator().manual_seed(0))
    return DataLoader(windows, batch_size=args.batch_size, sampler=sampler, collate_fn=collate,
                      num_workers=args.workers, persistent_workers=False)


def data_arguments(description: str, samples: int) -> argparse.ArgumentParser:
    """The data and loader settings this benchmark and benchmarks/remote_throughput.py share."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-traj", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--history", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=samples)
    parser.add_argument("--json", type=Path, default=None)
    return parser


def main() -> None:
    args = data_arguments(__doc__, samples=2048).parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), args.n_traj, args.steps, args.resolution)
        on_disk = evict_from_page_cache(Path(tmp) / "bench.zarr")
        store = pde_data.open(Path(tmp) / "bench.zarr")
        loader = random_window_loader(store, args)
        start = time.perf_counter()
        n = 0
        nbytes = 0
        for batch in loader:
            n += len(batch)
            nbytes += (batch.x.numel() + batch.y.numel()) * 4
        elapsed = time.perf_counter() - start

    result = {
        "samples_per_s": n / elapsed,
        "MB_per_s": nbytes / elapsed / 1e6,
        "samples": n,
        "seconds": elapsed,
        "store_MB": on_disk / 1e6,
        "workers": args.workers,
        "history": args.history,
        "grid": f"{args.resolution}^2",
        "fields": "density, pressure, velocity (2), tracer",
    }
    print("| samples/s | MB/s (decoded windows) | workers | k | grid | store size |")
    print("|---|---|---|---|---|---|")
    print(f"| {result['samples_per_s']:.0f} | {result['MB_per_s']:.0f} | {args.workers} | {args.history} "
          f"| {result['grid']} | {result['store_MB']:.0f} MB |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
