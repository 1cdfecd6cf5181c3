"""The convolutional refinement head (`MorphConfig.refine_channels`): shapes, a neutral start,
locality, boundaries, save/load, and growth."""

import pytest
import torch

from morph.config import MorphConfig
from morph.growth import grow
from morph.model import MORPH
from tests.conftest import tiny_model
from tests.morph.test_model_forward import GRIDS, history


def with_head(seed: int = 0, channels: int = 6, **overrides) -> MORPH:
    return tiny_model(seed, refine_channels=channels, **overrides)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_a_new_head_changes_nothing_and_keeps_the_shape(ndim):
    plain, headed = tiny_model(3), with_head(3)
    missing, unexpected = headed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and {k.split(".")[0] for k in missing} == {"refine"}
    x = history(grid=GRIDS[ndim])
    with torch.no_grad():
        torch.testing.assert_close(headed(x), plain(x))
        assert headed(x).shape == (2, 2, 3, *GRIDS[ndim])


def trained_head(**overrides) -> MORPH:
    model = with_head(**overrides)
    with torch.no_grad():
        for p in model.refine.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return model


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_the_head_acts_across_neighbouring_cells_only(ndim):
    model = trained_head()
    frame = torch.zeros(1, 1, 1, *GRIDS[ndim])
    centre = tuple(s // 2 for s in GRIDS[ndim])
    frame[(0, 0, 0, *centre)] = 1.0
    with torch.no_grad():
        out = model.refine(frame, torch.zeros_like(frame), ["constant"] * 3)
        blank = model.refine(torch.zeros_like(frame), torch.zeros_like(frame), ["constant"] * 3)
    moved = (out - blank - frame).abs()[0, 0, 0] > 1e-7
    reach = [(idx - c).abs().max().item() for idx, c in zip(moved.nonzero().T, centre)]
    assert moved.any() and max(reach) <= 2  # two 3-tap convolutions
    for axis, size in enumerate(GRIDS[ndim]):
        if size == 1:  # nothing leaks along an axis the data does not have
            assert moved.shape[axis] == 1


def test_periodic_axes_wrap_in_the_head():
    model = trained_head()
    frame = torch.zeros(1, 1, 1, 1, 1, 12)
    frame[..., 0] = 1.0
    with torch.no_grad():
        wrapped = model.refine(frame, torch.zeros_like(frame), ["constant", "constant", "circular"])
        walled = model.refine(frame, torch.zeros_like(frame), ["constant"] * 3)
    assert wrapped[..., -1].abs() > 0 and torch.equal(walled[..., -1], model.refine(
        torch.zeros_like(frame), torch.zeros_like(frame), ["constant"] * 3)[..., -1])


def test_a_model_with_a_head_saves_loads_and_grows(tmp_path):
    model = trained_head()
    model.save_pretrained(tmp_path / "m")
    loaded = MORPH.from_pretrained(tmp_path / "m")
    assert loaded.config.refine_channels == 6
    x = history(grid=GRIDS[2])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))
    grown = grow(model, max_fields=model.config.max_fields + 1, max_components=model.config.max_components)
    torch.testing.assert_close(grown.refine.inner.weight, model.refine.inner.weight)


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_a_bad_refine_channels_is_named(value):
    with pytest.raises(ValueError, match="refine_channels must be an int >= 0"):
        MorphConfig(refine_channels=value)
