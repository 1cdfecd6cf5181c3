"""The out-of-corpus stress set: do a model's rollouts stay stable on settings no pretraining used?

    OMP_NUM_THREADS=1 python -m benchmarks.stress_set --checkpoint starter --json runs/stress_set.json
    python -m benchmarks.stress_set --checkpoint starter --checkpoint runs/new/final --markdown stress.md
    python -m benchmarks.stress_set --quick                # a smoke run: 1 trajectory, 5 steps per case

Run from the repository root (`-m`: the script imports `benchmarks.accuracy` for the CPU name).
For each `--checkpoint` ("starter", the shipped model, or a checkpoint or run directory) the
cases of `rollouts.STRESS_CASES` (or those named in `--cases`) are generated fresh and seeded
(`--n-traj` trajectories each, the same for every checkpoint of the same history) and rolled
out for `--horizon` steps beside persistence (`rollouts.score_stress_set`). Printed per
checkpoint: the markdown table (nRMSE as model / persistence: mean over the horizon, at steps
1, 10 and the horizon, the growth step K / step 1, non-finite rollouts, the verdict of issue
32) and how many cases are stable; then the CPU, the torch threads, the date and this command.
`--json` writes every figure (per-step curves and growth included); `--markdown` the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, Optional


from pde_data.files import write_text_atomic
from morph.checkpoint import load_pretrained
from rollouts.stress import STRESS_SEED, score_stress_set, stress_cases
from benchmarks.common import machine as measured_on

logger = logging.getLogger("stress_set")
#: --quick: one trajectory per case, a 5-step rollout.
QUICK = {"n_traj": 1, "horizon": 5}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Score every checkpoint; the JSON-safe record (reports, machine, command)."""
    cases = stress_cases(args.cases)
    reports: dict[str, Any] = {}
    sections = []
    for label in args.checkpoint:
        model = load_pretrained(label)
        started = time.perf_counter()
        report = score_stress_set(model, cases, horizon=args.horizon, history=args.history, n_traj=args.n_traj,
                                  seed=args.seed, progress=args.progress)
        seconds = time.perf_counter() - started
        logger.info("%s: %s (%.0f s)", label, report.headline(), seconds)
        reports[label] = {**report.to_dict(), "seconds": round(seconds, 1)}
        sections.append(f"### {label}\n\n{report.table()}\n\n{seconds:.0f} s.")
    machine = measured_on()
    command = "python -m benchmarks.stress_set " + " ".join(map(shlex.quote, args.argv))
    footer = (f"{machine['cpu']}, {machine['threads']} torch thread(s), torch {machine['torch']}, "
              f"{date.today()}:\n\n    {command}")
    markdown = "\n\n".join(sections + [footer])
    return {"command": command, "date": str(date.today()), "machine": machine, "reports": reports,
            "markdown": markdown}


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", metavar="PATH",
                        help='"starter" (the shipped model), a checkpoint or a run directory; repeat for several '
                             '(default: starter)')
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="case names or simulators (default: all)")
    parser.add_argument("--horizon", type=int, default=30, help="rollout steps per trajectory")
    parser.add_argument("--history", type=int, default=None,
                        help="frames given (default: each model's training history, else its max_ar)")
    parser.add_argument("--n-traj", type=int, default=4, help="trajectories (rollouts) per case")
    parser.add_argument("--seed", type=int, default=STRESS_SEED, help="case i draws its trajectories with seed + i")
    parser.add_argument("--quick", action="store_true", help="a smoke run: " + ", ".join(f"{k} {v}" for k, v in
                                                                                        QUICK.items()))
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--progress", action="store_true", help="progress bars per rollout batch")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.checkpoint = args.checkpoint or ["starter"]
    if args.quick:
        vars(args).update(QUICK)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    record = run(args)
    print(record["markdown"])
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(record, indent=1, allow_nan=False) + "\n")
    if args.markdown is not None:
        write_text_atomic(args.markdown, record["markdown"] + "\n")
    return record


if __name__ == "__main__":
    main()
