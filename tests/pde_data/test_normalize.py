import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pde_data import fit_normalization


def _batch(b=2, t=3, f=2, c=3, space=(1, 5, 6), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, f, c, *space, generator=g) * 4 + 2
    mask = torch.zeros(b, f, c, dtype=torch.bool)
    mask[:, 0, :1] = True  # a scalar
    mask[:, 1, :2] = True  # a 2-vector
    x = x * mask[:, None, :, :, None, None, None]
    return x, mask


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3), seed=st.integers(0, 1000))
def test_denormalize_inverts_normalize_on_real_entries(scale, shift, seed):
    x, mask = _batch(seed=seed)
    x = (x * scale + shift) * mask[:, None, :, :, None, None, None]
    stats = fit_normalization(x, mask)
    back = stats.denormalize(stats.normalize(x))
    torch.testing.assert_close(back, x, rtol=1e-5, atol=1e-5 * (scale + abs(shift)))


def test_normalized_history_has_zero_mean_and_unit_scale_per_field():
    x, mask = _batch()
    xn = fit_normalization(x, mask).normalize(x)
    scalar = xn[:, :, 0, 0]
    torch.testing.assert_close(scalar.mean(dim=(1, 2, 3, 4)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(scalar.std(dim=(1, 2, 3, 4), unbiased=False), torch.ones(2), atol=1e-5, rtol=0)
    vec = xn[:, :, 1, :2]  # (B, T, 2, D, H, W): RMS magnitude is 1
    torch.testing.assert_close(vec.pow(2).sum(2).mean(dim=(1, 2, 3, 4)), torch.ones(2), atol=1e-4, rtol=0)
    assert (xn[:, :, 0, 1:] == 0).all() and (xn[:, :, 1, 2] == 0).all()


def test_vector_fields_are_scaled_by_magnitude_so_directions_are_preserved():
    x, mask = _batch()
    x[:, :, 1, 1] *= 100.0  # one component far larger than the other
    stats = fit_normalization(x, mask)
    xn = stats.normalize(x)
    centred = x[:, :, 1, :2] - stats.mean[:, None, 1, :2, None, None, None]
    # one scale for both components: the ratio of components is unchanged
    ratio_before = centred[:, :, 0] / centred[:, :, 1]
    ratio_after = xn[:, :, 1, 0] / xn[:, :, 1, 1]
    torch.testing.assert_close(ratio_after, ratio_before, rtol=1e-4, atol=1e-6)


def test_statistics_come_from_the_history_only():
    x, mask = _batch()
    stats = fit_normalization(x, mask)
    y = torch.randn(2, 2, 3, 1, 5, 6) * 1000  # a wildly different target does not change the stats
    again = fit_normalization(x, mask)
    assert torch.equal(stats.mean, again.mean) and torch.equal(stats.std, again.std)
    assert stats.normalize(y).shape == y.shape


def test_constant_history_falls_back_to_dataset_scale():
    x, mask = _batch()
    x[0, :, 0, 0] = 7.0
    stats = fit_normalization(x, mask, dataset_std=torch.tensor([[3.0, 2.0], [3.0, 2.0]]))
    assert stats.std[0, 0] == pytest.approx(3.0)
    assert stats.mean[0, 0, 0] == pytest.approx(7.0)
    assert stats.std[1, 0] != pytest.approx(3.0)  # the other sample keeps its own scale
    assert torch.isfinite(stats.normalize(x)).all()
    no_dataset = fit_normalization(x, mask)
    assert no_dataset.std[0, 0] == pytest.approx(1.0)
