import pytest
import torch

from morph import MORPH, MorphConfig
from morph.model.morph import increment_scale
from morph.predict import nrmse
from morph.train.objective import masked_mse
from tests.conftest import tiny_config


def test_increment_scale_is_the_rms_step_of_the_history_per_field():
    b, t, f, c = 2, 3, 2, 2
    x = torch.zeros(b, t, f, c, 1, 1, 4)
    steps = torch.tensor([0.5, 2.0])  # field 0 moves 0.5 per frame; field 1 moves 2 per frame, diagonally
    for s in range(t):
        x[:, s, 0, 0] = 1.0 + 0.5 * s
        x[:, s, 1, :] = 3.0 + 2.0 * s / 2**0.5
    scale = increment_scale(x)
    torch.testing.assert_close(scale, steps.expand(b, f))


def test_increment_scale_is_one_for_a_single_frame_and_floored_for_a_frozen_history():
    x = torch.full((1, 1, 1, 1, 1, 2, 2), 5.0)
    assert increment_scale(x).item() == 1.0
    frozen = torch.full((1, 3, 1, 1, 1, 2, 2), 5.0)
    assert 0 < increment_scale(frozen).item() == pytest.approx(5e-4)


def test_delta_scale_multiplies_the_predicted_increment():
    config = tiny_config(predict_delta=True, delta_scale=True)
    scaled = MORPH(config).eval()
    plain = MORPH(MorphConfig.from_dict({**config.to_dict(), "delta_scale": False})).eval()
    plain.load_state_dict(scaled.state_dict())
    x = torch.randn(2, 3, 2, 1, 1, 8, 12)
    with torch.no_grad():
        inc_scaled = scaled(x) - x[:, -1]
        inc_plain = plain(x) - x[:, -1]
    s = increment_scale(x)[:, :, None, None, None, None]
    torch.testing.assert_close(inc_scaled, s * inc_plain)


def test_masked_mse_ignores_padding_and_applies_weights():
    pred = torch.zeros(1, 2, 2, 1, 1, 2)
    target = torch.ones(1, 2, 2, 1, 1, 2)
    target[0, 1] = 3.0
    mask = torch.tensor([[[True, False], [True, False]]])
    assert masked_mse(pred, target, mask).item() == pytest.approx((2 * 1 + 2 * 9) / 4)
    weight = torch.tensor([[1.0, 1 / 9]])
    assert masked_mse(pred, target, mask, weight).item() == pytest.approx(1.0)


def test_nrmse_is_relative_l2_per_sample_and_field_over_real_entries():
    target = torch.zeros(1, 2, 2, 1, 1, 2)
    target[0, 0, 0] = torch.tensor([3.0, 4.0])  # ||y|| = 5
    target[0, 0, 1] = 100.0  # padded: ignored
    pred = target.clone()
    pred[0, 0, 0, 0, 0, 0] += 1.0  # error 1
    mask = torch.tensor([[[True, False], [False, False]]])
    out = nrmse(pred, target, mask)
    assert out[0, 0].item() == pytest.approx(0.2)
    assert torch.isnan(out[0, 1])


def test_predict_pads_components_to_the_model_limit_like_training_does():
    import pde_data
    from morph.predict import predict

    config = tiny_config(max_ar=2, predict_delta=True)
    model = MORPH(config).eval()
    ds = pde_data.generate("burgers_1d", n_traj=1, steps=4, resolution=16)
    win = pde_data.WindowDataset(ds, history=2, split="all")
    narrow = pde_data.collate([win[0]])  # C = 1
    wide = pde_data.collate([win[0]], n_components=3)  # C = 3, as in training
    with torch.no_grad():
        out_narrow = predict(model, narrow.x, narrow.mask, narrow.dataset_std).normalized
        out_wide = predict(model, wide.x, wide.mask, wide.dataset_std).normalized
    assert out_narrow.shape[2] == 1
    torch.testing.assert_close(out_narrow, out_wide[:, :, :1])


def _unroll_setup():
    import pde_data

    torch.manual_seed(0)
    config = tiny_config(max_ar=2, predict_delta=True)
    model = MORPH(config).train()
    data = pde_data.generate("burgers_1d", n_traj=3, steps=8, resolution=32, seed=1)
    windows = pde_data.WindowDataset(data, history=2, horizon=3, split="all")
    return model, pde_data.collate([windows[0], windows[4]])


def test_unrolled_loss_is_the_loss_of_the_model_on_its_own_rollout():
    import dataclasses

    import rollouts
    from morph.train.objective import training_loss

    model, batch = _unroll_setup()
    assert training_loss(model, batch, unroll=1) == training_loss(model, batch)
    with torch.no_grad():  # two steps of the rollout module, in physical units
        first, second = [step.prediction for step in rollouts.rollout(model, batch, steps=2)]
    # history 2: after two steps the window is the two predictions; the target is the third future frame
    by_hand = dataclasses.replace(batch, x=torch.stack([first, second], 1), y=batch.y_future[:, 2])
    expected = training_loss(model, by_hand)
    loss = training_loss(model, batch, unroll=3)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-7)
    assert loss.item() != pytest.approx(training_loss(model, batch).item(), rel=1e-3)  # not the next-step loss
    # the gradient flows through the last step only: the same as for the hand-built batch
    model.zero_grad()
    loss.backward()
    unrolled = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    expected.backward()
    for got, want in zip(unrolled, [p.grad for p in model.parameters() if p.grad is not None]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_unroll_without_future_frames_is_refused():
    import dataclasses

    from morph.train.objective import training_loss

    model, batch = _unroll_setup()
    with pytest.raises(ValueError, match="unroll = 2 needs batches with 2 future frames"):
        training_loss(model, dataclasses.replace(batch, y_future=None), unroll=2)


def test_an_unrolled_batch_whose_rollout_blows_up_trains_on_the_next_step(caplog):
    from morph.train.objective import training_loss

    model, batch = _unroll_setup()
    with torch.no_grad():
        model.decoder.linear.bias.fill_(3e38)  # the first prediction overflows to inf
    with caplog.at_level("WARNING", logger="morph.train.objective"):
        loss = training_loss(model, batch, unroll=3)
    assert "2-step rollout of a batch of burgers_1d diverged" in caplog.text
    assert loss == training_loss(model, batch)  # the next-step loss (inf here, never NaN from the rollout)
