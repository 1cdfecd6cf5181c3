"""Which floating-point precision a model runs in, and the context that applies it.

    resolve_precision("auto", "cpu")   -> "bf16" on a CPU with native bfloat16, else "no"
    with autocast("auto", device): ...  # model calls inside run in that precision

"auto" picks bfloat16 autocast where the hardware computes it natively: a CUDA GPU that supports
it, or a CPU with AVX512-BF16 or AMX tiles (torch's CPU capability report). Elsewhere bfloat16 on
a CPU is emulated and slower than float32, so "auto" stays in float32 ("no"). Under autocast the
weights, the optimiser state and the checkpoints stay float32; matmuls and convolutions run in
bfloat16, and what the model returns is converted back to float32 before losses and metrics.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Literal, Union, get_args

import torch

from morph.config import ConfigError

__all__ = ["Precision", "PRECISIONS", "autocast", "native_bf16", "resolve_precision"]

Precision = Literal["auto", "no", "bf16", "fp16"]
#: The choices of a precision setting ("no" is float32).
PRECISIONS: tuple[str, ...] = get_args(Precision)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: Union[str, torch.device] = "cpu") -> bool:
    """True where bfloat16 arithmetic runs natively on `device`: a CUDA GPU that supports it, or a
    CPU with AVX512-BF16 or AMX tile instructions. False on other CPUs (and where torch cannot
    tell), where bfloat16 is emulated and slower than float32."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch >= 2.3
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def resolve_precision(choice: str, device: Union[str, torch.device] = "cpu", where: str = "precision") -> str:
    """`choice` ("auto", "no", "bf16" or "fp16") as the precision to run in on `device`: "auto" is
    "bf16" where `native_bf16(device)`, else "no". `where` names the setting in the error for an
    unknown choice."""
    if choice not in PRECISIONS:
        raise ConfigError(f"{where} must be one of {', '.join(PRECISIONS)} (\"no\" = float32), got {choice!r}")
    if choice != "auto":
        return choice
    return "bf16" if native_bf16(device) else "no"


@contextlib.contextmanager
def autocast(choice: str, device: Union[str, torch.device] = "cpu") -> Iterator[str]:
    """Run the block under torch autocast in `choice` resolved for `device` (`resolve_precision`);
    yields the precision it resolved to. "no" runs the block as it is."""
    precision = resolve_precision(choice, device)
    if precision == "no":
        yield precision
        return
    with torch.autocast(torch.device(device).type, dtype=_DTYPES[precision]):
        yield precision
