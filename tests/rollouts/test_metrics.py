import types

import numpy as np
import pytest
import torch

from rollouts import BANDS, METRICS, compute_metrics
from rollouts.metrics import spectral_bands


def line(*values):
    """One 1D frame of one scalar field: (B=1, K=1, F=1, C=1, D=1, H=1, W)."""
    return torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, 1, 1, 1, -1)


SCALAR = torch.ones(1, 1, 1, dtype=torch.bool)


def test_point_metrics_match_hand_computed_values():
    y = line(1.0, 2.0, 3.0, 4.0)
    pred = line(1.0, 2.0, 3.0, 6.0)  # error (0, 0, 0, 2)
    m = compute_metrics(pred, y, SCALAR)
    assert m["mse"].item() == pytest.approx(1.0)  # 4 / 4
    assert m["rmse"].item() == pytest.approx(1.0)
    assert m["mae"].item() == pytest.approx(0.5)  # 2 / 4
    assert m["nrmse"].item() == pytest.approx(2 / np.sqrt(30))  # ||e|| / ||y||
    var = np.var([1, 2, 3, 4], ddof=1)  # The Well: unbiased variance over space, eps 1e-7
    assert m["vrmse"].item() == pytest.approx(np.sqrt(1.0 / (var + 1e-7)))


def test_spectral_bands_split_the_error_energy_by_wavenumber_thirds():
    # W = 4: |k| in cycles per point = 0, 1/4, 1/2, 1/4; bands of thirds of 1/2
    delta = compute_metrics(line(1.0, 0, 0, 0), line(0.0, 0, 0, 0), SCALAR)
    assert [delta[f"spectral_{b}"].item() for b in BANDS] == pytest.approx([1 / 16, 2 / 16, 1 / 16])
    nyquist = compute_metrics(line(1.0, -1, 1, -1), line(0.0, 0, 0, 0), SCALAR)
    assert [nyquist[f"spectral_{b}"].item() for b in BANDS] == pytest.approx([0, 0, 1])
    offset = compute_metrics(line(2.0, 2, 2, 2), line(0.0, 0, 0, 0), SCALAR)
    assert [offset[f"spectral_{b}"].item() for b in BANDS] == pytest.approx([4, 0, 0])


def test_spectral_bands_add_up_to_the_mse_in_2d_and_3d():
    for shape in ((1, 6, 10), (4, 6, 5)):
        pred, y = torch.randn(2, 3, 1, 2, *shape), torch.randn(2, 3, 1, 2, *shape)
        m = compute_metrics(pred, y, torch.ones(2, 1, 2, dtype=torch.bool), per="component")
        total = sum(m[f"spectral_{b}"] for b in BANDS)
        torch.testing.assert_close(total, m["mse"])
        bands = spectral_bands(shape)
        assert bands.shape == (3, *shape) and bands.sum(0).eq(1).all()  # every mode in exactly one band


def test_a_perfect_prediction_scores_zero_everywhere():
    y = torch.randn(2, 4, 2, 3, 1, 5, 7)
    mask = torch.tensor([[True, False, False], [True, True, True]]).expand(2, 2, 3)
    for per in ("field", "component"):
        m = compute_metrics(y.clone(), y, mask, per=per)
        assert set(m) == set(METRICS)
        for name, values in m.items():
            real = values if per == "field" else values[mask[:, None].expand_as(values)]
            assert (real == 0).all(), name


def test_padding_is_ignored_and_reported_as_nan():
    y = torch.randn(1, 2, 2, 3, 1, 4, 4)
    pred = y + 0.1 * torch.randn_like(y)
    mask = torch.tensor([[[True, False, False], [False, False, False]]])  # field 1 is all padding
    noisy = pred.clone()
    noisy[:, :, 0, 1:] = 1e6
    noisy[:, :, 1] = float("nan")
    clean, dirty = compute_metrics(pred, y, mask), compute_metrics(noisy, y, mask)
    for name in METRICS:
        torch.testing.assert_close(clean[name][:, :, 0], dirty[name][:, :, 0])
        assert torch.isnan(dirty[name][:, :, 1]).all()
    per_component = compute_metrics(noisy, y, mask, per="component")
    assert torch.isnan(per_component["mse"][:, :, 0, 1:]).all()


def test_field_metrics_take_the_components_of_a_vector_together():
    y = torch.zeros(1, 1, 1, 2, 1, 1, 2, dtype=torch.float64)
    y[..., 0, :, :, :] = 3.0
    y[..., 1, :, :, :] = 4.0  # |y| = 5 at both points
    pred = y.clone()
    pred[..., 0, 0, 0, 0] += 1.0  # one error of 1 in component 0
    mask = torch.ones(1, 1, 2, dtype=torch.bool)
    field = compute_metrics(pred, y, mask)
    comp = compute_metrics(pred, y, mask, per="component")
    assert field["mse"].item() == pytest.approx(0.25)  # 1 over 2 components x 2 points
    assert field["rmse"].item() == pytest.approx(0.5)
    assert field["nrmse"].item() == pytest.approx(1 / np.sqrt(50))  # ||e|| / ||y|| = 1 / sqrt(2 * 25)
    assert field["vrmse"].item() == pytest.approx(comp["vrmse"].nanmean().item())
    assert comp["mse"][0, 0, 0].tolist() == pytest.approx([0.5, 0.0])


def test_one_step_input_drops_the_step_axis():
    y = torch.randn(3, 2, 1, 1, 1, 8)
    assert compute_metrics(y + 1, y, torch.ones(2, 1, dtype=torch.bool))["mse"].shape == (3, 2)


def test_vrmse_and_nrmse_agree_with_the_well():
    spatial = pytest.importorskip("the_well.benchmark.metrics.spatial")
    pred, y = torch.randn(2, 3, 1, 1, 1, 6, 10), torch.randn(2, 3, 1, 1, 1, 6, 10) + 2
    m = compute_metrics(pred, y, torch.ones(2, 1, 1, dtype=torch.bool))
    meta = types.SimpleNamespace(n_spatial_dims=2)
    # The Well's layout: (..., *space, channels)
    well = lambda t: t[:, :, 0, 0, 0, :, :, None].double()  # noqa: E731
    torch.testing.assert_close(m["vrmse"][..., 0], spatial.VRMSE.eval(well(pred), well(y), meta)[..., 0])
    torch.testing.assert_close(m["nrmse"][..., 0], spatial.NRMSE.eval(well(pred), well(y), meta)[..., 0],
                               rtol=1e-6, atol=1e-6)
