"""MORPH forward: shapes over 1D/2D/3D, padding and cropping, limits, modes, precision."""

import functools
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
import torch.nn.functional as F

from morph.model import MORPH
from morph.model.axial import AxialAttention
from tests.conftest import tiny_model as make_tiny_model
# (D, H, W) per number of spatial dims; sizes that cannot be confused, not multiples of 4.
GRIDS = {1: (1, 1, 13), 2: (1, 6, 10), 3: (5, 6, 7)}


def tiny_model(seed: int = 0, **overrides) -> MORPH:
    """Two blocks and four cross-attention heads: every path of the encoder is exercised."""
    return make_tiny_model(seed, **{"depth": 2, "heads_xa": 4, **overrides})


def history(b=2, t=2, f=2, c=3, grid=(5, 6, 7), seed=1) -> torch.Tensor:
    return torch.randn(b, t, f, c, *grid, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("t", [1, 3])
def test_output_is_the_next_frame_in_b_f_c_d_h_w(ndim, t):
    x = history(t=t, grid=GRIDS[ndim])
    assert tiny_model()(x).shape == (2, 2, 3, *GRIDS[ndim])


@functools.lru_cache(maxsize=1)
def shared_model() -> MORPH:
    return tiny_model(depth=1)


@settings(max_examples=15, deadline=None)
@given(t=st.integers(1, 3), fields=st.integers(1, 3), components=st.integers(1, 3),
       d=st.sampled_from([1, 1, 3, 5]), h=st.integers(1, 9), w=st.integers(1, 11))
def test_any_grid_and_sizes_within_the_limits_give_a_frame_of_the_same_shape(
        t, fields, components, d, h, w):
    x = torch.randn(1, t, fields, components, d, h, w)
    with torch.no_grad():
        frame = shared_model()(x)
    assert frame.shape == (1, fields, components, d, h, w) and torch.isfinite(frame).all()


@pytest.mark.parametrize("ndim, grid_patches", [(1, (1, 1, 4)), (2, (1, 2, 3)), (3, (2, 2, 2))])
def test_tokens_are_returned_per_time_slot_and_patch(ndim, grid_patches):
    frame, tokens = tiny_model()(history(t=3, grid=GRIDS[ndim]), return_tokens=True)
    assert tokens.shape == (2, 3, grid_patches[0] * grid_patches[1] * grid_patches[2], 32)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_a_grid_off_the_patch_multiple_equals_its_zero_padding_cropped(ndim):
    model, x = tiny_model(), history(grid=GRIDS[ndim])
    d, h, w = GRIDS[ndim]
    up = lambda n: n if n == 1 else -(-n // 4) * 4  # noqa: E731
    padded = F.pad(x, (0, up(w) - w, 0, up(h) - h, 0, up(d) - d))
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(padded)[..., :d, :h, :w])


@pytest.mark.parametrize("fields, components", [(1, 1), (2, 1), (1, 2), (3, 3)])
def test_fewer_fields_and_components_than_the_limits_are_accepted(fields, components):
    x = history(f=fields, c=components, grid=GRIDS[2])
    assert tiny_model()(x).shape == (2, fields, components, *GRIDS[2])


def test_missing_components_read_like_zero_components():
    model, x = tiny_model(), history(c=2, grid=GRIDS[3])
    zero_padded = torch.cat([x, torch.zeros_like(x[:, :, :, :1])], dim=3)
    with torch.no_grad():
        torch.testing.assert_close(model(x, return_tokens=True)[1],
                                   model(zero_padded, return_tokens=True)[1])


def test_forward_is_deterministic_for_a_seed():
    x = history(grid=GRIDS[3])
    with torch.no_grad():
        assert torch.equal(tiny_model(seed=3)(x), tiny_model(seed=3)(x))
        assert not torch.equal(tiny_model(seed=3)(x), tiny_model(seed=4)(x))


@pytest.mark.parametrize("shape, message", [
    ((2, 4, 2, 3, 1, 1, 8), r"history 4 is outside 1..3 \(max_ar = 3"),
    ((2, 1, 4, 3, 1, 1, 8), r"4 fields but the model takes at most max_fields = 3"),
    ((2, 1, 2, 4, 1, 1, 8), r"4 components but the model takes at most max_components = 3"),
    ((2, 1, 2, 3, 1, 36, 32), "makes 72 patches .* more than max_patches = 64"),
    ((2, 1, 2, 3, 8, 8), r"must be \(B, t, F, C, D, H, W\) \(7 dims\), got \(2, 1, 2, 3, 8, 8\)"),
])
def test_input_beyond_the_limits_is_refused_naming_value_and_limit(shape, message):
    with pytest.raises(ValueError, match=message):
        tiny_model()(torch.zeros(shape))


def test_predict_delta_adds_the_last_input_frame():
    x = history(t=3, grid=GRIDS[2])
    plain, delta = tiny_model(seed=5), tiny_model(seed=5, predict_delta=True, delta_scale=False)
    with torch.no_grad():
        torch.testing.assert_close(delta(x), x[:, -1] + plain(x))


def test_slice_positions_are_the_first_time_rows_at_full_patch_count():
    model = tiny_model()
    table = model.positional.table
    torch.testing.assert_close(model.positional(2, 64), table[:, :2])


def test_slice_positions_interpolate_linearly_along_the_patch_index():
    model = tiny_model(max_patches=4)
    table = model.positional.table  # (1, 3, 4, dim)
    # Upsampling 4 -> 8 with half-pixel centres: position 1 sits 3/4 of the way from row 0 to row 1.
    expected = 0.25 * table[:, :1, 0] + 0.75 * table[:, :1, 1]
    torch.testing.assert_close(model.positional(1, 8)[:, :, 2], expected)


def test_bilinear_positions_resample_time_and_patches_together():
    model = tiny_model(pos_mode="bilinear")
    table = model.positional.table
    torch.testing.assert_close(model.positional(3, 64), table)
    one_slot = model.positional(1, 64)
    # Antialiased 3 -> 1: a triangle filter over the three rows, weights 2/7, 3/7, 2/7.
    expected = (2 * table[:, 0] + 3 * table[:, 1] + 2 * table[:, 2]) / 7
    torch.testing.assert_close(one_slot, expected[:, None])
    assert model(history(t=2, grid=GRIDS[3])).shape == (2, 2, 3, *GRIDS[3])


def test_forward_runs_under_bf16_autocast_close_to_fp32():
    model, x = tiny_model(), history(grid=GRIDS[2])
    with torch.no_grad():
        full = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.shape == full.shape
    assert (low.float() - full).abs().max() < 0.1 * full.abs().max()


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("cc") is None,
                    reason="torch.compile (inductor) needs a C++ compiler")
def test_forward_compiles_with_torch_compile_to_the_same_numbers_across_grid_sizes():
    model = tiny_model(depth=1)
    compiled = torch.compile(model)
    with torch.no_grad():
        for grid in [(1, 6, 10), (1, 10, 6)]:  # the second grid makes dynamo go dynamic
            x = history(grid=grid)
            torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=1e-5)


class _WrappedLinear(torch.nn.Linear):
    """Stands for a peft-wrapped layer: not exactly nn.Linear, so never folded."""


@pytest.mark.parametrize("grid", [(1, 1, 40), (1, 5, 8)])
def test_length_one_axes_folded_into_one_linear_equal_the_separate_layers(grid):
    torch.manual_seed(0)
    attention = AxialAttention(dim=16, heads=2)
    x = torch.randn(2, 1, *grid, 16)  # 80 tokens: folding pays
    folded = attention(x)
    for axis in (attention.depth, attention.height):
        wrapped = _WrappedLinear(16, 16)
        wrapped.load_state_dict(axis.v.state_dict())
        axis.v = wrapped
    torch.testing.assert_close(attention(x), folded)
