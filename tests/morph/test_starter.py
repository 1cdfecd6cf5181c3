"""The starter model shipped in the package: small, loadable, and better than persistence
on fresh data of every built-in simulator (seeds it never saw), with history 2, 3 and 4."""

from __future__ import annotations

import pytest
import torch

import pde_data
from morph import MORPH
from morph.checkpoint.files import CONFIG_FILE, PACKAGED_WEIGHTS, WEIGHTS_FILE
from morph.predict import nrmse, predict

STARTER = PACKAGED_WEIGHTS / "starter"
pytestmark = pytest.mark.skipif(not (STARTER / CONFIG_FILE).is_file(),
                                reason="the starter weights (morph/weights/starter/) are not in this checkout")


@pytest.fixture(scope="module")
def starter() -> MORPH:
    return MORPH.from_pretrained("starter")


def test_it_is_small_half_precision_and_loads_as_float32(starter):
    from safetensors import safe_open

    assert (STARTER / WEIGHTS_FILE).stat().st_size <= 25 * 2 ** 20
    with safe_open(str(STARTER / WEIGHTS_FILE), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert {p.dtype for p in starter.parameters()} == {torch.float32}
    assert starter.config.max_ar >= 4 and starter.config.max_components >= 3 and starter.config.predict_delta


@pytest.mark.parametrize("simulator, resolution", [("burgers_1d", None), ("euler_1d", None),
                                                   ("shallow_water_2d", None), ("navier_stokes_2d", None),
                                                   ("advection_diffusion_3d", 24)])
@pytest.mark.parametrize("history", [2, 4])
def test_it_beats_persistence_on_unseen_trajectories(starter, simulator, resolution, history):
    data = pde_data.generate(simulator, n_traj=2, steps=history + 3, resolution=resolution, seed=987)
    windows = pde_data.WindowDataset(data, history=history, split="all", n_components=3)
    batch = pde_data.collate([windows[i] for i in range(len(windows))], n_components=3)
    with torch.no_grad():
        prediction = predict(starter, batch.x, batch.mask, batch.dataset_std).physical
    model_err = nrmse(prediction, batch.y, batch.mask).nanmean()
    persistence_err = nrmse(batch.x[:, -1], batch.y, batch.mask).nanmean()
    assert model_err < 0.9 * persistence_err, (float(model_err), float(persistence_err))
