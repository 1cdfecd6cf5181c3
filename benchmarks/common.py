"""What the benchmarks share: the machine a figure was measured on, JSON records that stay valid
JSON, and summary statistics over seeds."""

from __future__ import annotations

import math
import platform
import statistics
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

__all__ = ["cpu_model", "finite", "machine", "stats", "write_record"]


def cpu_model() -> str:
    """The CPU's model name as `lscpu` gives it (the processor string where there is no lscpu)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                "unknown")


def machine() -> dict[str, Any]:
    """Where and when a figure was measured: CPU model, torch threads, whether the CPU computes
    bfloat16 natively (AVX512-BF16 or AMX), torch's CPU capability, versions, and the UTC time."""
    import torch

    from morph.precision import native_bf16

    return {"cpu": cpu_model(), "threads": torch.get_num_threads(), "native_bf16": native_bf16("cpu"),
            "capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "python": platform.python_version(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def finite(value: Any) -> Any:
    """`value` made JSON-ready: non-finite floats (a diverged rollout's error) become null, paths
    strings, tuples lists; dicts and lists are converted throughout."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_record(path: Path, record: Any) -> None:
    """Write `record` to `path` as JSON (`finite` first, so it is valid JSON), atomically, making
    the folder."""
    from pde_data.files import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, finite(record), indent=1)


def stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, standard deviation (0 for one value), min, max and the values, over seeds; the mean
    is inf when any value is not finite (a diverged run)."""
    values = [float(v) for v in values]
    all_finite = all(math.isfinite(v) for v in values)
    mean = statistics.fmean(values) if all_finite else math.inf
    std = statistics.stdev(values) if all_finite and len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "values": values}
