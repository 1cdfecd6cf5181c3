import math

import pytest
import torch

import pde_data
from morph.predict import predict
from rollouts import RolloutDiverged, persistence, rollout, rollout_all
from tests.conftest import make_dataset
from tests.rollouts.helpers import ScriptedModel, persistence_model, tiny_model

GRIDS = {1: (16,), 2: (8, 12), 3: (4, 8, 6)}


def windows(n_dims=2, history=2, horizon=3, scale=1.0, offset=0.0, fields=(("p", 1), ("v", 2))):
    data = make_dataset(n=3, t=history + horizon + 1, grid=GRIDS[n_dims], fields=fields)
    for arr in data.fields.values():
        arr *= scale
        arr += offset
    return pde_data.WindowDataset(data, history=history, horizon=horizon, split="all", n_components=3)


def batch_of(w, indices=(0, 1)):
    return pde_data.collate([w[i] for i in indices], n_components=3)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_rollout_with_one_step_equals_one_denormalised_forward(n_dims):
    model = tiny_model()
    batch = batch_of(windows(n_dims))
    with torch.no_grad():
        expected = predict(model, batch.x, batch.mask, batch.dataset_std).physical
    steps = list(rollout(model, batch, 1))
    assert len(steps) == 1 and steps[0].step == 1
    torch.testing.assert_close(steps[0].prediction, expected)
    torch.testing.assert_close(steps[0].target, batch.y)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_rollout_all_is_batched_with_shape_b_k_f_c_d_h_w(n_dims):
    model = tiny_model()
    w = windows(n_dims)
    batch = batch_of(w)
    out = rollout_all(model, batch, 3)
    assert out.shape == (2, 3, *batch.x.shape[2:])
    assert torch.isfinite(out).all()
    alone = rollout_all(model, batch_of(w, (1,)), 3)
    torch.testing.assert_close(out[1:], alone, atol=1e-5, rtol=1e-5)


def test_each_step_feeds_the_prediction_back_into_a_sliding_window():
    model = tiny_model()
    batch = batch_of(windows(history=2, horizon=3))
    out = rollout_all(model, batch, 3)
    manual_window = batch.x
    for s in range(3):
        with torch.no_grad():
            frame = predict(model, manual_window, batch.mask, batch.dataset_std).physical
        torch.testing.assert_close(out[:, s], frame)
        manual_window = torch.cat([manual_window[:, 1:], frame[:, None]], dim=1)


def test_outputs_are_in_physical_units_whatever_the_data_scale():
    model = persistence_model()  # predicts "no change" in normalised units
    batch = batch_of(windows(scale=250.0, offset=-3000.0))
    out = rollout_all(model, batch, 3)
    expected = persistence(batch.x, 3) * batch.mask[:, None, :, :, None, None, None]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-2)
    assert out[batch.mask[:, None].expand(-1, 3, -1, -1)].abs().mean() > 1000


def test_padded_components_come_out_zero_and_a_bare_tensor_with_mask_works():
    model = tiny_model()
    batch = batch_of(windows())
    out = rollout_all(model, batch.x, 2, batch.mask, dataset_std=batch.dataset_std)
    torch.testing.assert_close(out, rollout_all(model, batch, 2))
    assert (out[:, :, 0, 1:] == 0).all() and (out[:, :, 1, 2] == 0).all()


def test_teacher_forcing_makes_every_step_a_one_step_forecast():
    model = tiny_model()
    w = pde_data.WindowDataset(make_dataset(n=2, t=8, grid=(8, 12)), history=2, horizon=3, split="all",
                               n_components=3)
    batch = pde_data.collate([w[0]], n_components=3)
    forced = rollout_all(model, batch, 3, teacher_forcing=True)
    assert w.windows_per_traj >= 3
    for s in range(3):  # window s starts s frames later in the same trajectory
        later = pde_data.collate([w[s]], n_components=3)
        one = rollout_all(model, later, 1)
        torch.testing.assert_close(forced[:, s], one[:, 0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(forced[:, 2], rollout_all(model, batch, 3)[:, 2])


def test_the_generator_can_stop_early_and_restores_the_training_mode():
    model = tiny_model().train()
    steps = rollout(model, batch_of(windows()), 100)
    first = next(steps)
    assert first.step == 1 and not first.diverged.any()
    steps.close()
    assert model.training


def test_non_finite_predictions_raise_with_the_step():
    model = ScriptedModel([[1.0, 1.0], [1.0, 1.0], [1.0, float("nan")]])
    with pytest.raises(RolloutDiverged, match="step 3") as info:
        rollout_all(model, batch_of(windows()), 5)
    err = info.value
    assert err.step == 3 and err.samples == [1] and "non-finite" in err.reason
    assert err.predictions.shape[1] == 2 and torch.isfinite(err.predictions).all()


def test_exploding_predictions_raise_with_the_step_and_the_growth():
    model = ScriptedModel([[1.0, 1.0], [1e6, 1.0]])
    with pytest.raises(RolloutDiverged, match="step 2") as info:
        list(rollout(model, batch_of(windows()), 4))
    assert info.value.samples == [0] and "max_growth" in info.value.reason
    model = ScriptedModel([[1.0, 1.0], [1e6, 1.0]])
    assert len(list(rollout(model, batch_of(windows()), 4, max_growth=None))) == 4


def test_flagged_divergence_marks_the_sample_and_continues_with_the_others():
    model = ScriptedModel([[1.0, 1.0], [float("inf"), 1.0], [1.0, 1.0]])
    steps = list(rollout(model, batch_of(windows()), 3, on_divergence="flag"))
    assert [s.diverged.tolist() for s in steps] == [[False, False], [True, False], [True, False]]
    assert torch.isnan(steps[1].prediction[0]).all() and torch.isnan(steps[2].prediction[0]).all()
    assert all(torch.isfinite(s.prediction[1]).all() for s in steps)


def test_inputs_that_do_not_fit_the_model_are_refused_by_name():
    model = tiny_model(max_ar=1)
    with pytest.raises(pde_data.DataError, match="history 2 is outside 1..1"):
        next(rollout(model, batch_of(windows()), 1))
    four_fields = windows(fields=(("a", 1), ("b", 1), ("c", 1), ("d", 1)))
    with pytest.raises(pde_data.DataError, match="4 fields but the model takes at most max_fields = 3"):
        next(rollout(tiny_model(), batch_of(four_fields), 1))
    with pytest.raises(pde_data.DataError, match="steps must be an int >= 1"):
        next(rollout(tiny_model(), batch_of(windows()), 0))
    with pytest.raises(pde_data.DataError, match="teacher_forcing needs"):
        next(rollout(tiny_model(), batch_of(windows()).x, 2, teacher_forcing=True))


def test_persistence_repeats_the_last_frame():
    x = torch.randn(2, 3, 1, 1, 1, 1, 5)
    out = persistence(x, 4)
    assert out.shape == (2, 4, 1, 1, 1, 1, 5)
    assert all(torch.equal(out[:, s], x[:, -1]) for s in range(4))
    assert math.isclose(float(out.sum()), 4 * float(x[:, -1].sum()), rel_tol=1e-5, abs_tol=1e-5)
