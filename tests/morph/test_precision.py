"""bfloat16 on the CPU: when "auto" picks it, what it computes, and that training and rollouts run in it."""

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from morph.config import ConfigError
from morph.model.axial import attention
from morph.precision import autocast, native_bf16, resolve_precision
from rollouts import rollout_all
from tests.conftest import tiny_model


def cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    match = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


@pytest.mark.skipif(not cpu_flags(), reason="needs /proc/cpuinfo (Linux)")
def test_native_bf16_follows_the_cpu_flags():
    flags = cpu_flags()
    assert native_bf16("cpu") == bool({"avx512_bf16", "amx_tile"} & flags)
    assert resolve_precision("auto", "cpu") == ("bf16" if {"avx512_bf16", "amx_tile"} & flags else "no")


def test_auto_falls_back_to_float32_where_torch_cannot_tell(monkeypatch):
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, probe, raising=False)
    assert not native_bf16("cpu")
    assert resolve_precision("auto", "cpu") == "no"
    with autocast("auto", "cpu") as chosen:
        assert chosen == "no" and not torch.is_autocast_enabled("cpu")


def test_explicit_choices_are_kept_and_unknown_ones_named():
    assert resolve_precision("no", "cpu") == "no"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ConfigError, match=r"mixed_precision must be one of auto, no, bf16, fp16.*'fp8'"):
        resolve_precision("fp8", "cpu", "mixed_precision")


@pytest.mark.parametrize("length", [1, 5, 16])
def test_bf16_attention_on_the_cpu_matches_float32_attention(length):
    torch.manual_seed(0)
    q, k, v = (torch.randn(6, 2, length, 8) for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(attention(q, k, v), exact)  # float32: torch's kernel, unchanged
    low = attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert low.dtype == torch.bfloat16
    assert (low.float() - exact).abs().max() < 0.03


def test_bf16_attention_has_gradients_close_to_float32():
    torch.manual_seed(1)
    leaves = [torch.randn(4, 2, 7, 8, requires_grad=True) for _ in range(3)]
    F.scaled_dot_product_attention(*leaves).square().sum().backward()
    exact = [t.grad.clone() for t in leaves]
    low = [t.detach().bfloat16().requires_grad_(True) for t in leaves]
    attention(*low).float().square().sum().backward()
    for g32, g16 in zip(exact, low):
        assert (g16.grad.float() - g32).norm() / g32.norm() < 0.03


def test_a_bf16_forward_and_training_step_stay_close_to_float32():
    model = tiny_model(depth=2, predict_delta=True).train()
    x = torch.randn(3, 2, 2, 3, 1, 8, 12)  # (B, t, F, C, D, H, W)
    y = torch.randn(3, 2, 3, 1, 8, 12)
    losses, grads = [], []
    for precision in ("no", "bf16"):
        model.zero_grad()
        with autocast(precision, "cpu"):
            out = model(x)
        loss = F.mse_loss(out.float(), y)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert all(math.isfinite(v) for v in losses)
    assert abs(losses[1] - losses[0]) / losses[0] < 0.02
    assert (grads[1] - grads[0]).norm() / grads[0].norm() < 0.1
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast leaves the weights alone


def test_a_bf16_rollout_yields_float32_frames_close_to_float32():
    model = tiny_model(predict_delta=True)
    history = torch.randn(2, 2, 1, 1, 1, 1, 32)  # (B, t, F, C, D, H, W), 1D
    exact = rollout_all(model, history, 3)
    low = rollout_all(model, history, 3, precision="bf16")
    assert low.dtype == torch.float32 and low.shape == exact.shape
    assert (low - exact).norm() / exact.norm() < 0.02
