"""Tensor fields end to end: a The Well file with four fields, one of them a 2x2 tensor, is more
than the starter takes (3 fields of 3 components); `morph finetune` grows the starter to it, and
the LoRA fine-tune beats persistence one step ahead on trajectories it held out."""

import json

import numpy as np
import pytest
import torch

import pde_data
from morph import MORPH
from morph.checkpoint.files import CONFIG_FILE, PACKAGED_WEIGHTS
from morph.cli import main
from pde_data import DatasetSpec, FieldSpec, PDEDataset
from pde_data.well_export import export_well


def periodic_derivative(a: np.ndarray, axis: int, step: float) -> np.ndarray:
    return (np.roll(a, -1, axis) - np.roll(a, 1, axis)) / (2 * step)


def shallow_water_with_a_tensor(path, n: int = 12, steps: int = 12, resolution: int = 32, seed: int = 5) -> str:
    """Shallow water (height, 2-vector velocity) with its vorticity and its velocity gradient (a 2x2
    tensor, row-major [du/dx, du/dy, dv/dx, dv/dy]) as further fields, written as a Well file."""
    sw = pde_data.generate("shallow_water_2d", n_traj=n, steps=steps, resolution=resolution, seed=seed)
    height = np.stack([sw.read(i)["height"] for i in range(n)])  # (N, T, 1, X, Y)
    velocity = np.stack([sw.read(i)["velocity"] for i in range(n)])  # (N, T, 2, X, Y)
    dx, dy = sw.spec.spacing
    u, v = velocity[:, :, 0], velocity[:, :, 1]
    gradient = np.stack([periodic_derivative(u, 2, dx), periodic_derivative(u, 3, dy),
                         periodic_derivative(v, 2, dx), periodic_derivative(v, 3, dy)], axis=2)
    vorticity = (gradient[:, :, 2] - gradient[:, :, 1])[:, :, None]
    spec = DatasetSpec(name="shallow_water_tensor", grid_shape=sw.spec.grid_shape,
                       fields=(FieldSpec("height"), FieldSpec("vorticity"), FieldSpec("velocity", 2),
                               FieldSpec("velocity_gradient", 4)),
                       n_trajectories=n, n_steps=steps, dt=sw.spec.dt, spacing=sw.spec.spacing,
                       boundary_conditions=sw.spec.boundary_conditions, axis_names=sw.spec.axis_names)
    arrays = {"height": height, "vorticity": vorticity, "velocity": velocity, "velocity_gradient": gradient}
    return export_well(PDEDataset(spec, {k: a.astype(np.float32) for k, a in arrays.items()}), path)


@pytest.mark.skipif(not (PACKAGED_WEIGHTS / "starter" / CONFIG_FILE).is_file(), reason="no starter weights")
def test_a_well_file_with_a_tensor_field_fine_tunes_from_the_starter_and_beats_persistence(tmp_path, capsys):
    data = shallow_water_with_a_tensor(str(tmp_path / "sw_tensor.hdf5"))
    spec = pde_data.open(data).spec
    assert [(f.name, f.components) for f in spec.fields] == [
        ("height", 1), ("vorticity", 1), ("velocity", 2), ("velocity_gradient", 4)]  # t0, t0, t1, t2
    out = tmp_path / "ft"
    main(["finetune", "--checkpoint", "starter", "--data", data, "--level", "1", "--steps", "40",
          "--batch-size", "4", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert "zero-shot (starter, grown)" in printed

    scores = json.loads((out / "test_metrics.json").read_text())["fine-tuned (level 1)"]
    tuned, persistence = scores["model"]["mean"]["nrmse"]["step_1"], scores["persistence"]["mean"]["nrmse"]["step_1"]
    assert tuned < 0.9 * persistence, (tuned, persistence)
    tensor = scores["model"]["velocity_gradient"]["nrmse"]["step_1"]
    assert np.isfinite(tensor) and tensor < scores["persistence"]["velocity_gradient"]["nrmse"]["step_1"]

    model = MORPH.from_pretrained(out)  # the starter grown and the adapter merged
    assert (model.config.max_fields, model.config.max_components) == (4, 4)
    windows = pde_data.WindowDataset(pde_data.open(data), history=2, split="test", n_components=4)
    batch = pde_data.collate([windows[0]], n_components=4)
    with torch.no_grad():
        assert model(batch.x).shape == (1, 4, 4, 1, 32, 32)
