"""Fine-tuning levels: each freezes what DESIGN.md says, and what trains gets a gradient."""

import pytest
import torch

import adapters
from morph import MORPH
from tests.adapters.helpers import tiny_config

X3D = torch.randn(2, 2, 2, 3, 8, 5, 6, generator=torch.Generator().manual_seed(4))  # every axis > 1


def group(name: str) -> str:
    """The parameter group of a (possibly peft-wrapped) parameter name."""
    if ".lora_" in name:
        return "lora"
    if name.startswith("encoder."):
        return "encoder norm" if "_norm." in name else "encoder linear"
    return name.split(".")[0]  # embedding, positional, decoder


def trainable_groups(model) -> dict[str, set[bool]]:
    """group -> the set of requires_grad values of the parameters that count (not peft's frozen originals)."""
    out: dict[str, set[bool]] = {}
    for name, p in model.named_parameters():
        if ".original_module." in name:
            assert not p.requires_grad
            continue
        out.setdefault(group(name), set()).add(p.requires_grad)
    return out


@pytest.mark.parametrize("level, expected", [
    (1, {"lora": {True}, "encoder linear": {False}, "encoder norm": {False}, "embedding": {False},
         "positional": {False}, "decoder": {False}}),
    (2, {"lora": {True}, "encoder linear": {False}, "encoder norm": {True}, "embedding": {True},
         "positional": {True}, "decoder": {True}}),
    (3, {"encoder linear": {False}, "encoder norm": {False}, "embedding": {True}, "positional": {True},
         "decoder": {True}}),
    (4, {"encoder linear": {True}, "encoder norm": {True}, "embedding": {True}, "positional": {True},
         "decoder": {True}}),
])
def test_each_level_freezes_what_it_should(level, expected):
    model = MORPH(tiny_config())
    n = adapters.apply_level(model, level, rank=2)
    assert trainable_groups(model) == expected
    assert n == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_every_trainable_parameter_gets_a_gradient(level):
    model = MORPH(tiny_config())
    adapters.apply_level(model, level, rank=2)
    for module in model.modules():  # B = 0 would leave the gradient of A at zero
        if hasattr(module, "lora_B"):
            torch.nn.init.normal_(module.lora_B["default"].weight, std=0.1)
    model(X3D).square().mean().backward()
    missing = [name for name, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing


def test_levels_are_ordered_by_how_much_trains():
    counts = [adapters.apply_level(MORPH(tiny_config()), level, rank=2) for level in (1, 2, 3, 4)]
    total = sum(p.numel() for p in MORPH(tiny_config()).parameters())
    assert counts[0] < counts[1] and counts[2] < counts[3] == total


def test_an_unknown_level_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="level must be one of 1, 2, 3, 4.*got 5"):
        adapters.apply_level(MORPH(tiny_config()), 5)
