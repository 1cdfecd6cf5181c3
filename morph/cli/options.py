"""What every command shares: `--option KEY=VALUE` parsing and the one flags -> config merge."""

from __future__ import annotations

import json
from typing import Any, List, Mapping, Optional

from pde_data import DataError
from pde_data.errors import FORMATS_PAGE

__all__ = ["COMPILE_HELP", "FORMAT_HELP", "MAX_MINUTES_HELP", "OPTION_HELP", "PRECISION_HELP", "device", "merge_flags",
           "parse_options"]

#: Help of every command's precision flag (`morph.precision`).
PRECISION_HELP = ("auto (bfloat16 where the GPU or CPU computes it natively, AVX512-BF16 or AMX; else float32), "
                  "no (float32) or bf16")
#: Help of the training commands' --max-minutes and --compile (`TrainConfig.max_minutes`, `.compile`).
MAX_MINUTES_HELP = ("wall-clock budget: train as many steps as fit in N minutes (measured on the first steps; the "
                    "schedule follows) and end with the checkpoint")
COMPILE_HELP = "run the model through torch.compile (slow first steps; float32 only on a CPU)"
#: Help of the data flags of every command that reads data.
FORMAT_HELP = f"reader of the data: auto (detected) or a name of `morph data list`; layouts: {FORMATS_PAGE}"
OPTION_HELP = (f"reader option KEY=VALUE (VALUE parsed as JSON when it parses), repeatable; each reader's keys: "
               f"{FORMATS_PAGE}")


def parse_options(options: Optional[List[str]], flag: str = "--option",
                  example: str = "--option 'fields={\"velocity\": [\"u\", \"v\"]}'") -> dict[str, Any]:
    """`KEY=VALUE` pairs (values parsed as JSON when they parse, else kept as text) into a dict."""
    parsed: dict[str, Any] = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def merge_flags(values: Mapping[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (a config as a dict: from a file, a saved run or the defaults) with the command-line
    `flags` laid over it. A flag of None was not given and changes nothing; a dict flag is merged,
    the same way, into the dict of the same key (e.g. `model`, `train`); `epochs` given without `steps` drops the
    `steps` of `values`, so `--epochs` replaces the length a config file set."""
    merged = dict(values)
    given = {k: v for k, v in flags.items() if v is not None}
    for key, value in given.items():
        if isinstance(value, Mapping):
            merged[key] = merge_flags(merged.get(key) or {}, value)
        else:
            merged[key] = value
    if "epochs" in given and "steps" not in given and "steps" in merged:
        merged["steps"] = None
    return merged


def device(choice: str = "auto") -> str:
    """The torch device a command runs models on: `choice`, or for "auto" a GPU when there is one."""
    if choice != "auto":
        return choice
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
