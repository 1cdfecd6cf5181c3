"""What every command shares: the data flags (`--format`, `--option KEY=VALUE`, `--boundary`) and the one
mapping from the data layer's argument names to them, and the one flags -> config merge."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, List, Mapping, Optional

from pde_data import DataError
from pde_data.errors import FORMATS_PAGE

__all__ = ["BATCH_SIZE_HELP", "BOUNDARY_HELP", "COMPILE_HELP", "DATA_FLAGS", "EPOCHS_HELP", "FORMAT_HELP",
           "MAX_MINUTES_HELP", "NAN_MAX_SKIPS_HELP", "NAN_POLICY_HELP", "OPTION_HELP", "PRECISION_HELP",
           "SEED_HELP", "SET_HELP", "CliFormatter", "cli_words", "data_options", "device", "merge_flags", "parse_options"]

#: Help of every command's precision flag (`morph.precision`).
PRECISION_HELP = ("auto (bfloat16 where the GPU or CPU computes it natively, AVX512-BF16 or AMX; else float32), "
                  "no (float32) or bf16")
#: Help of the training commands' --max-minutes and --compile (`TrainConfig.max_minutes`, `.compile`).
MAX_MINUTES_HELP = ("wall-clock budget: train as many steps as fit in N minutes (measured on the first steps; the "
                    "schedule follows) and end with the checkpoint")
COMPILE_HELP = "run the model through torch.compile (slow first steps; float32 only on a CPU)"
#: Help of the training commands' --nan-policy and --nan-max-skips (`TrainConfig.nan_policy`, `.nan_max_skips`).
NAN_POLICY_HELP = ("at a NaN or infinite loss: stop (default; the run ends with an error naming the step and "
                   "dataset, its last checkpoint untouched) or skip (no update for that step; at most "
                   "--nan-max-skips of them)")
NAN_MAX_SKIPS_HELP = "with --nan-policy skip: the non-finite steps a run may skip before it stops (default 10)"
#: Help of the training commands' --set (`morph.train.config_files.apply_settings`).
SET_HELP = ("any key of the config file, KEY=VALUE (dotted for a nested key, e.g. model.depth=6; VALUE read as YAML), "
            "repeatable; laid over the config file and the other flags")
#: Help of the data flags of every command that reads data.
FORMAT_HELP = f"reader of the data: auto (detected) or a name of `morph data list`; layouts: {FORMATS_PAGE}"
OPTION_HELP = (f"reader option KEY=VALUE (VALUE parsed as JSON when it parses), repeatable; each reader's keys: "
               f"{FORMATS_PAGE}")
#: Help of the flags every training and evaluation command shares.
EPOCHS_HELP = "passes over the training windows (--steps wins when both are given)"
BATCH_SIZE_HELP = "windows per batch"
SEED_HELP = "random seed of the weights and the order of the batches (the train/val/test split has its own, split_seed)"
BOUNDARY_HELP = ("the data's boundary condition, where the file does not say it or says it wrong: periodic, wall or "
                 "open for every axis (--boundary wall), or per axis (--boundary x=wall, repeatable)")

#: The data layer's argument names and the flags that set them on the command line; every other reader option
#: is `--option KEY=...`. `cli_words` says library messages in these words.
DATA_FLAGS = {"format": "--format", "boundary_conditions": "--boundary"}


def data_options(option: Optional[List[str]], boundary: Optional[List[str]], **named: Any) -> dict[str, Any]:
    """The reader options of `--option KEY=VALUE` pairs, `--boundary` values (as `boundary_conditions`:
    one value, or the list of them) and flags given by name (e.g. `layout` of `morph data`; None: not given)."""
    options = parse_options(option)
    given = {key: value for key, value in named.items() if value is not None}
    if boundary:
        given["boundary_conditions"] = boundary[0] if len(boundary) == 1 else list(boundary)
    both = sorted(set(given) & set(options))
    if both:
        raise DataError(f"{both[0]} is given twice, by --option and by {DATA_FLAGS.get(both[0], '--' + both[0])}; "
                        "give it once")
    return {**options, **given}


def cli_words(text: str) -> str:
    """A message of the data layer with its argument names said as the flags that set them: `format=` as
    `--format `, `boundary_conditions=` as `--boundary `, any other reader option `KEY=` as `--option KEY=` (not
    where the text says `--option KEY=` already)."""
    from pde_data import READERS

    keys = {key for reader in READERS.values() for key in reader.option_names} | set(DATA_FLAGS)
    names = "|".join(sorted(keys, key=len, reverse=True))
    pattern = r"(?<!--option )(?<!--option ')(?<!--option \")(?<![\w.\-])(" + names + r")="
    return re.sub(pattern, lambda m: f"{DATA_FLAGS[m[1]]} " if m[1] in DATA_FLAGS else f"--option {m[1]}=", text)


class CliFormatter(logging.Formatter):
    """Log lines of the command line: library messages in `cli_words`."""

    def format(self, record: logging.LogRecord) -> str:
        return cli_words(super().format(record))


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
    `flags` laid over it as a config file's keys are (`morph.train.config_files.merge_values`: a dict
    flag, e.g. `model` or `train`, merged into the dict of the same key). A flag of None was not given
    and changes nothing; `epochs` given without `steps` drops the `steps` of `values`, so `--epochs`
    replaces the length a config file set."""
    from morph.train.config_files import merge_values

    given = _given(flags)
    merged = merge_values(values, given)
    if "epochs" in given and "steps" not in given and "steps" in merged:
        merged["steps"] = None
    return merged


def _given(flags: Mapping[str, Any]) -> dict[str, Any]:
    """`flags` less those of None, in dicts too (a dict left empty is dropped)."""
    given = {}
    for key, value in flags.items():
        value = _given(value) if isinstance(value, Mapping) else value
        if value is not None and value != {}:
            given[key] = value
    return given


def device(choice: str = "auto") -> str:
    """The torch device a command runs models on: `choice`, or for "auto" a GPU when there is one."""
    if choice != "auto":
        return choice
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
