"""Training contracts: gradients reach every parameter, checkpointing changes nothing."""

import pytest
import torch

from morph.model import MORPH
from tests.conftest import tiny_config

TINY = dict(depth=2, heads_xa=4)  # every path of the encoder


def gradients(model: MORPH, x: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()
    return {name: p.grad for name, p in model.named_parameters()}


def test_every_parameter_gets_a_gradient_with_history_on_a_3d_grid():
    torch.manual_seed(0)
    model = MORPH(tiny_config(**TINY))
    x = torch.randn(2, 3, 3, 3, 5, 6, 7)  # t > 1 (time attention), 2 patches on D, H, W
    for name, grad in gradients(model, x).items():
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize("grid, unused_axes", [((1, 6, 10), ["depth"]), ((1, 1, 13), ["depth", "height"])])
def test_axes_of_length_one_train_only_their_value_and_output_projections(grid, unused_axes):
    torch.manual_seed(0)
    model = MORPH(tiny_config(**TINY))
    grads = gradients(model, torch.randn(2, 1, 2, 3, *grid))
    for block in range(2):
        prefix = f"encoder.blocks.{block}.attention"
        for axis in unused_axes:
            assert grads[f"{prefix}.{axis}.q.weight"] is None and grads[f"{prefix}.{axis}.k.weight"] is None
            assert grads[f"{prefix}.{axis}.v.weight"].abs().sum() > 0
            assert grads[f"{prefix}.{axis}.o.weight"].abs().sum() > 0
        assert grads[f"{prefix}.time.q.weight"] is None  # t = 1: no time attention
        assert grads[f"{prefix}.width.q.weight"].abs().sum() > 0


def test_activation_checkpointing_gives_the_same_gradients():
    x = torch.randn(2, 2, 2, 3, 5, 6, 7)
    torch.manual_seed(0)
    plain = MORPH(tiny_config(**TINY))
    torch.manual_seed(0)
    recomputed = MORPH(tiny_config(**TINY, activation_checkpointing=True))
    expected, actual = gradients(plain, x), gradients(recomputed, x)
    for name, grad in expected.items():
        if grad is None:
            assert actual[name] is None, name
        else:
            torch.testing.assert_close(actual[name], grad, msg=name)


def test_dropout_acts_in_training_mode_only():
    torch.manual_seed(0)
    model = MORPH(tiny_config(**TINY, dropout=0.3, emb_dropout=0.3))
    x = torch.randn(1, 2, 2, 3, 1, 6, 10)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
