"""Random-window throughput from data served over HTTP, beside the same from local disk.

    OMP_NUM_THREADS=2 python -m benchmarks.remote_throughput --json runs/remote_throughput.json
    python -m benchmarks.remote_throughput --samples 64 --n-traj 4 --train-steps 0   # a smoke run

The data of `benchmarks/data_throughput.py` (2D, 4 fields: density, pressure,
a 2-vector velocity and a tracer, 5 components, 128^2, 32 trajectories of 40
frames) is written as a canonical store and as a The Well HDF5 file
(`pde_data.export_well`). A local HTTP server on 127.0.0.1
(`pde_data.testing.serve_directory`, byte ranges, threaded) serves both, with
0 ms and with 20 ms added before every answer. For each source, random windows
(history k = 4 and one target) go through a DataLoader with 2 worker
processes, batch 16, and the same `--samples` windows are read twice:

- epoch 1 from a cold (empty) read-through cache: what streaming costs;
- epoch 2 from the cache that epoch 1 filled: what the next epochs cost.

Local disk is the same store and file opened by path, with the OS page cache
dropped first. With `--train-steps N` it also trains a small MORPH for N steps
directly on the Well file in place and on the converted store (local disk, 0
workers, `in_memory` false and true) and reports training samples/s.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

import pde_data
from benchmarks.common import machine as measured_on
from benchmarks.data_throughput import data_arguments, evict_from_page_cache, make_store, random_window_loader
from pde_data.testing import serve_directory

logger = logging.getLogger("remote_throughput")


def windows_per_second(source: str | Path, args: argparse.Namespace, remote: dict | None) -> float:
    """Samples/s of one pass over `args.samples` random windows (the same ones on every call)."""
    dataset = pde_data.open(source, remote=remote) if remote is not None else pde_data.open(source)
    start = time.perf_counter()
    n = sum(len(batch) for batch in random_window_loader(dataset, args))
    return n / (time.perf_counter() - start)


def loader_table(root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    sources = {"store": "bench.zarr", "Well HDF5": "bench.hdf5"}
    for name, relative in sources.items():
        evict_from_page_cache(root / relative)
        local = windows_per_second(root / relative, args, None)
        rows.append({"source": name, "where": "local disk", "latency_ms": 0, "epoch1": local, "epoch2": None})
        logger.info("%s, local disk: %.0f samples/s", name, local)
        for latency in args.latency:
            cache = Path(tempfile.mkdtemp(dir=root, prefix="cache-"))
            remote = {"cache_dir": str(cache)}
            with serve_directory(root, latency=latency) as server:
                url = server.url(relative)
                first = windows_per_second(url, args, remote)
                second = windows_per_second(url, args, remote)
                requests = server.requests
            rows.append({"source": name, "where": "HTTP", "latency_ms": round(latency * 1000), "epoch1": first,
                         "epoch2": second, "epoch2_vs_local": second / local, "requests": requests})
            logger.info("%s, HTTP %d ms: %.0f samples/s cold, %.0f from the cache (%.2fx local disk)", name,
                        latency * 1000, first, second, second / local)
    return rows


def training_table(root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from morph.train import TrainConfig, train

    rows = []
    for name, relative in (("Well HDF5 in place", "bench.hdf5"), ("converted store", "bench.zarr")):
        for in_memory in (False, True):
            config = TrainConfig(
                datasets=[{"source": str(root / relative)}], steps=args.train_steps, batch_size=8,
                history=args.history, warmup_steps=1, checkpoint_every=10**6, val_windows=8,
                in_memory=in_memory, num_workers=0, output_dir=str(root / f"run-{relative}-{in_memory}"),
                cache_dir=str(root / "train-cache"),
                model=dict(preset="Ti", dim=64, heads=2, depth=1, mlp_dim=128, heads_xa=2, patch_size=8, max_ar=4, max_fields=4))
            start = time.perf_counter()
            result = train(config, progress=False)
            wall = time.perf_counter() - start
            rows.append({"source": name, "in_memory": in_memory, "steps": result.steps,
                         "train_samples_per_s": result.steps * 8 / result.seconds, "wall_s": wall})
            logger.info("train on %s (in_memory %s): %.1f samples/s", name, in_memory, rows[-1]["train_samples_per_s"])
    return rows


def main() -> None:
    parser = data_arguments(__doc__, samples=512)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.02], help="seconds per request")
    parser.add_argument("--train-steps", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_store(root, args.n_traj, args.steps, args.resolution)
        pde_data.export_well(store, root / "bench.hdf5")
        loader_rows = loader_table(root, args)
        train_rows = training_table(root, args) if args.train_steps else []

    print(f"\nrandom windows (k = {args.history} + 1 target, {args.resolution}^2, 4 fields), {args.workers} workers, "
          f"batch {args.batch_size}, {args.samples} samples per epoch; samples/s")
    print("| source | where | added latency | epoch 1 (cold cache) | epoch 2 (from the cache) | epoch 2 / local disk |")
    print("|---|---|---|---|---|---|")
    for r in loader_rows:
        second = f"{r['epoch2']:.0f}" if r["epoch2"] is not None else "-"
        ratio = f"{r['epoch2_vs_local']:.2f}" if r["epoch2"] is not None else "-"
        print(f"| {r['source']} | {r['where']} | {r['latency_ms']} ms | {r['epoch1']:.0f} | {second} | {ratio} |")
    if train_rows:
        print("\ntraining a small MORPH on local disk, samples/s")
        print("| data | in_memory false | in_memory true |")
        print("|---|---|---|")
        for name in dict.fromkeys(r["source"] for r in train_rows):
            by = {r["in_memory"]: r["train_samples_per_s"] for r in train_rows if r["source"] == name}
            print(f"| {name} | {by[False]:.1f} | {by[True]:.1f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"date": str(date.today()), "machine": measured_on(),
                                         "settings": vars(args) | {"json": str(args.json)},
                                         "loader": loader_rows, "training": train_rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
