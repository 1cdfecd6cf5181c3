"""Boundaries the model can see, patch jittering and noise injection."""

import logging

import numpy as np
import pytest
import torch

import pde_data
from morph import MORPH
from morph.checkpoint import RunRecord
from morph.model.boundaries import pad_axis
from morph.train import ConfigError, TrainConfig
from morph.train.objective import add_noise, training_loss
from tests.conftest import make_dataset, tiny_config, tiny_model
from tests.pde_data.fixtures import write_netcdf, write_pdebench_single, write_well

PERIODIC = {1: ("none", "none", "periodic"), 2: ("none", "periodic", "periodic"),
            3: ("periodic", "periodic", "periodic")}
GRIDS = {1: (1, 1, 16), 2: (1, 8, 12), 3: (8, 4, 8)}  # multiples of the patch (4)


def without_positions(model: MORPH) -> MORPH:
    """The learned positional table is the one part of MORPH that knows where a patch is."""
    with torch.no_grad():
        model.positional.table.zero_()
    return model


def roll(x: torch.Tensor, cells: int, n_dims: int) -> torch.Tensor:
    return torch.roll(x, shifts=(cells,) * n_dims, dims=tuple(range(-n_dims, 0)))


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_with_circular_padding_a_periodic_model_commutes_with_shifts_by_a_patch(n_dims):
    model = without_positions(tiny_model(boundary_padding=True, predict_delta=True))
    x = torch.randn(2, 2, 2, 3, *GRIDS[n_dims])
    with torch.no_grad():
        shifted_first = model(roll(x, 4, n_dims), boundaries=PERIODIC[n_dims])
        shifted_after = roll(model(x, boundaries=PERIODIC[n_dims]), 4, n_dims)
    torch.testing.assert_close(shifted_first, shifted_after, rtol=1e-4, atol=1e-5)
    # zero padding (the published model) sees the edges: no such symmetry
    plain = without_positions(tiny_model(predict_delta=True))
    with torch.no_grad():
        assert not torch.allclose(plain(roll(x, 4, n_dims)), roll(plain(x), 4, n_dims), rtol=1e-3, atol=1e-4)


def test_boundary_padding_is_off_by_default_and_then_ignores_boundaries():
    model = tiny_model()
    x = torch.randn(1, 2, 1, 1, 1, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(model(x, boundaries=PERIODIC[2]), model(x))
    assert TrainConfig().morph_config().boundary_padding  # but on for new pretraining


def test_padding_wraps_repeats_or_zero_fills_any_amount():
    x = torch.arange(1.0, 4.0)[None]  # (1, 3): 1 2 3
    assert pad_axis(x, 1, 2, 4, "circular").tolist() == [[2, 3, 1, 2, 3, 1, 2, 3, 1]]
    assert pad_axis(x, 1, 1, 2, "replicate").tolist() == [[1, 1, 2, 3, 3, 3]]
    assert pad_axis(x, 1, 1, 1, "constant").tolist() == [[0, 1, 2, 3, 0]]


def test_circular_convolutions_wrap_around_the_real_grid_not_the_patch_padded_one():
    import torch.nn.functional as F

    model = tiny_model(boundary_padding=True)
    x = torch.randn(2, 3, 1, 10, 6)  # (N, C, D, H, W): H = 10 is not a multiple of the patch (4)
    got = model.embedding.conv_features(x, ("constant", "circular", "circular"))
    # reference: torch's own circular padding, the kernels cut to their middle depth slice (D = 1)
    h = x
    proj = model.embedding.component_proj.weight[:, :3, 0, 0, 0]
    for i, layer in enumerate(model.embedding.convs):
        weight = layer.weight[:, :, 1:2]
        if i == 0:
            weight = (weight.movedim(1, -1) @ proj).movedim(-1, 1)
        h = F.leaky_relu(F.conv3d(F.pad(h, (1, 1, 1, 1, 0, 0), mode="circular"), weight), 0.2)
    torch.testing.assert_close(got, h, rtol=1e-5, atol=1e-6)


def test_a_grid_that_is_not_a_patch_multiple_is_padded_by_wrapping_on_periodic_axes():
    model = tiny_model(boundary_padding=True)
    x = torch.randn(1, 1, 1, 1, 1, 1, 10)  # 1D, 10 points, patches of 4: padded to 12
    with torch.no_grad():
        wrapped = model(x, boundaries=PERIODIC[1])
        zeros = model(x, boundaries=("none", "none", "wall"))
    assert wrapped.shape == zeros.shape == (1, 1, 1, 1, 1, 10)
    assert not torch.allclose(wrapped, zeros)


@pytest.mark.parametrize("bc", ["wall", "periodic"])
def test_a_jittered_patch_grid_gives_a_full_size_frame_and_a_whole_patch_shift_on_a_torus_changes_nothing(bc):
    model = without_positions(tiny_model(boundary_padding=True))
    boundaries = ("none", bc, bc)
    x = torch.randn(2, 2, 1, 2, 1, 8, 12)
    with torch.no_grad():
        plain = model(x, boundaries=boundaries)
        jittered = model(x, boundaries=boundaries, shift=(0, 1, 3))
        assert jittered.shape == plain.shape and torch.isfinite(jittered).all()
        assert not torch.allclose(jittered, plain)
        torch.testing.assert_close(model(x, boundaries=boundaries, shift=(0, 0, 0)), plain)
        if bc == "periodic":
            torch.testing.assert_close(model(x, boundaries=boundaries, shift=(0, 4, 4)), plain,
                                       rtol=1e-4, atol=1e-5)


def test_the_boundary_embedding_starts_at_zero_and_then_tells_boundaries_apart():
    torch.manual_seed(0)
    plain = tiny_model(seed=3)
    embedded = tiny_model(seed=3, boundary_embedding=True)
    embedded.load_state_dict({**plain.state_dict(), "boundary_embedding.table": embedded.boundary_embedding.table})
    x = torch.randn(1, 2, 1, 1, 1, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(embedded(x, boundaries=("none", "wall", "periodic")), plain(x))
        embedded.boundary_embedding.table.normal_()
        assert not torch.allclose(embedded(x, boundaries=("none", "wall", "periodic")),
                                  embedded(x, boundaries=("none", "periodic", "periodic")))


@pytest.mark.parametrize("name", sorted(pde_data.SIMULATORS))
def test_every_simulator_puts_its_boundaries_into_the_batch(name):
    sim = pde_data.SIMULATORS[name]
    data = pde_data.generate(name, n_traj=1, steps=3, resolution=8 if sim.n_spatial_dims == 3 else 16)
    batch = pde_data.collate([pde_data.WindowDataset(data, history=1, split="all")[0]])
    expected = ("none",) * (3 - sim.n_spatial_dims) + tuple(data.spec.boundary_conditions)
    assert batch.boundaries == expected and "unknown" not in expected


def test_readers_put_the_boundaries_of_the_file_into_the_batch(tmp_path):
    write_well(str(tmp_path / "w.hdf5"), d=2, bcs=("WALL", "PERIODIC"))
    write_netcdf(str(tmp_path / "n.nc"))
    write_pdebench_single(str(tmp_path / "1D_Advection_Sols_beta0.4.hdf5"), d=1)
    np.save(tmp_path / "a.npy", np.random.default_rng(0).standard_normal((3, 4, 6, 5)).astype(np.float32))
    cases = [(pde_data.open(tmp_path / "w.hdf5"), ("none", "wall", "periodic")),
             (pde_data.open(tmp_path / "n.nc", boundary_conditions="wall"), ("none", "wall", "wall")),
             (pde_data.open(tmp_path / "1D_Advection_Sols_beta0.4.hdf5"), ("none", "none", "periodic")),
             (pde_data.open(tmp_path / "a.npy", layout="N T X Y", boundary_conditions=["open", "periodic"]),
              ("none", "open", "periodic"))]
    for data, expected in cases:
        batch = pde_data.collate([pde_data.WindowDataset(data, history=1, split="all")[0]])
        assert batch.boundaries == expected


def test_a_boundary_type_the_model_never_trained_on_is_named_in_a_warning(caplog):
    import rollouts

    model = tiny_model(max_ar=2)
    model.metadata = RunRecord(history=2, data_specs=[{"boundary_conditions": ["periodic"]}]).to_metadata()
    data = make_dataset(n=2, t=4, grid=(8, 12), boundary_conditions=("wall", "periodic"), name="boxed")
    batch = pde_data.collate([pde_data.WindowDataset(data, history=2, split="all")[0]], n_components=3)
    with caplog.at_level(logging.WARNING, logger="morph.predict"):
        next(rollouts.rollout(model, batch, 1))
    assert "boxed has wall boundaries, which the model never trained on (it saw: periodic)" in caplog.text


def test_noise_is_scaled_to_each_field_and_spares_padding():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 2, 2, 1, 16, 16) * torch.tensor([1.0, 100.0])[None, None, :, None, None, None, None]
    mask = torch.tensor([[True, True], [True, False]]).expand(4, 2, 2)
    x = x * mask[:, None, :, :, None, None, None]
    noise = add_noise(x, mask, 0.1) - x
    assert float(noise[:, :, 1, 1].abs().max()) == 0.0  # padded component untouched
    ratio = noise[:, :, 1, 0].std() / noise[:, :, 0].std()
    assert 60 < float(ratio) < 160  # the noise follows each field's scale (x100 on field 1)
    relative = noise[:, :, 0].std() / x[:, :, 0].std()
    assert 0.08 < float(relative) < 0.12


def test_noise_and_jitter_change_the_training_loss_and_zero_changes_nothing():
    model = tiny_model(max_ar=2, boundary_padding=True).train()
    data = make_dataset(n=2, t=4, grid=(8, 12), boundary_conditions=("periodic", "periodic"))
    batch = pde_data.collate([pde_data.WindowDataset(data, history=2, split="all")[i] for i in range(2)],
                             n_components=3)
    torch.manual_seed(1)
    base = training_loss(model, batch)
    torch.manual_seed(1)
    assert training_loss(model, batch, noise=0.0, jitter=0) == base
    for options in (dict(noise=0.2), dict(jitter=3)):
        torch.manual_seed(1)
        assert training_loss(model, batch, **options).item() != pytest.approx(base.item(), rel=1e-4)


@pytest.mark.parametrize("change, message", [
    (dict(noise=1.5), r"noise must be a number in \[0, 1\)"),
    (dict(noise=-0.1), r"noise must be a number in \[0, 1\)"),
    (dict(patch_jitter=4), r"patch_jitter must be an int in 0..3 .*patch size 4"),
    (dict(patch_jitter=-1), r"patch_jitter must be an int in 0..3"),
])
def test_noise_or_jitter_out_of_range_is_a_config_error_with_the_range(change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**change)


def test_a_checkpoint_records_the_boundary_switches(tmp_path):
    model = tiny_model(boundary_padding=True, wall_padding="replicate", boundary_embedding=True)
    model.save_pretrained(tmp_path / "m")
    loaded = MORPH.from_pretrained(tmp_path / "m")
    assert (loaded.config.boundary_padding, loaded.config.wall_padding, loaded.config.boundary_embedding) == (
        True, "replicate", True)
    np.testing.assert_array_equal(loaded.boundary_embedding.table.detach().numpy(),
                                  model.boundary_embedding.table.detach().numpy())
    assert tiny_config().boundary_padding is False  # imported weights keep zero padding


def test_morph_pretrain_refuses_noise_out_of_range_by_name(tmp_path, capsys):
    from morph.cli import main

    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--noise", "1.5", "--out", str(tmp_path / "run"), "--quiet"])
    assert info.value.code == 2
    assert "noise must be a number in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
