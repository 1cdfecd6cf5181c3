"""The FNO and U-Net baselines keep MORPH's contract: the same trainer, checkpoints, resume,
rollouts and `morph evaluate`; data of another shape is refused with our error."""

import csv
import json
import shutil
import sys

import pytest
import torch

import pde_data
import rollouts
from morph.checkpoint import load_pretrained
from morph.cli import main
from morph.config import ConfigError, DataFitError
from morph.model import FNO, MORPH, FNOConfig, UNet, UNetConfig
from morph.train import TrainConfig, train
from morph.train.data import resolve_source
from tests.conftest import TINY_MODEL

#: The smallest sizes of each architecture (milliseconds per step on 2 CPU cores).
TINY = {
    "morph": {"preset": "Ti", **TINY_MODEL, "max_ar": 2, "predict_delta": True},
    "fno": {"arch": "fno", "hidden_channels": 8, "n_modes": 4, "n_layers": 2},
    "unet": {"arch": "unet", "features": 4},
}
#: The package each baseline needs (`morph-pde[baselines]`).
NEEDS = {"fno": "neuralop", "unet": "monai"}
DATASETS = {"1d": dict(source="burgers_1d", n_traj=5, steps=8, resolution=32),
            "2d": dict(source="shallow_water_2d", n_traj=5, steps=8, resolution=16)}
T, F, C = 2, 2, 2


def needs(arch):
    if arch in NEEDS:
        pytest.importorskip(NEEDS[arch])


def tiny_baseline(arch, seed=0, **shape):
    needs(arch)
    torch.manual_seed(seed)
    shape = {"history": T, "fields": F, "components": C, "spatial_dims": 2, **shape}
    if arch == "fno":
        return FNO(FNOConfig(**shape, hidden_channels=8, n_modes=3, n_layers=2)).eval()
    return UNet(UNetConfig(**shape, features=4)).eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One data cache for the module: each simulator is generated once."""
    return str(tmp_path_factory.mktemp("cache"))


def run_config(tmp_path, cache, arch, data="1d", **kw):
    values = dict(datasets=[DATASETS[data]], model=TINY[arch], history=T, batch_size=4, steps=4,
                  checkpoint_every=2, warmup_steps=1, output_dir=str(tmp_path / f"{arch}-{data}"),
                  cache_dir=cache, val_windows=4, seed=1)
    values.update(kw)
    return TrainConfig(**values)


@pytest.mark.parametrize("data", ["1d", "2d"])
@pytest.mark.parametrize("arch", ["morph", "fno", "unet"])
def test_every_architecture_trains_saves_and_rolls_out_through_the_same_path(tmp_path, cache, arch, data):
    needs(arch)
    result = train(run_config(tmp_path, cache, arch, data), progress=False)
    config = json.loads((result.checkpoint / "config.json").read_text())
    assert config.get("arch", "morph") == arch  # recorded, so loading needs no flag
    model = load_pretrained(result.output_dir)
    assert type(model).__name__ == {"morph": "MORPH", "fno": "FNO", "unet": "UNet"}[arch]
    dataset = next(iter(result.per_dataset))
    assert dataset == DATASETS[data]["source"] and result.per_dataset[dataset]["nrmse"] > 0
    config = run_config(tmp_path, cache, arch, data)
    store = resolve_source(config.datasets[0], config.cache)  # the dataset it was trained on
    scores = rollouts.evaluate(model, store, horizon=3, split="test")
    assert scores.horizon == 3 and set(scores.scores) == {"model", "persistence"}
    assert torch.isfinite(torch.as_tensor(scores.scores["model"]["nrmse"])).all()
    windows = pde_data.WindowDataset(store, history=T, horizon=3, split="test")
    batch = pde_data.collate([windows[0], windows[1]])
    steps = [step.prediction for step in rollouts.rollout(model, batch, steps=3)]
    assert len(steps) == 3 and steps[0].shape == batch.y.shape


@pytest.mark.parametrize("arch", ["fno", "unet"])
def test_a_saved_baseline_loads_with_the_same_outputs_and_no_flag(tmp_path, arch):
    model = tiny_baseline(arch, spatial_dims=1)
    x = torch.randn(3, T, F, C, 1, 1, 20)
    model.metadata = {"note": "kept"}
    model.save_pretrained(tmp_path / "ckpt")
    loaded = load_pretrained(tmp_path / "ckpt")
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.metadata == {"note": "kept"}
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert type(model).from_pretrained(tmp_path / "ckpt").config == model.config
    with pytest.raises(Exception, match="holds a"):
        MORPH.from_pretrained(tmp_path / "ckpt")


@pytest.mark.parametrize("arch", ["fno", "unet"])
@pytest.mark.parametrize("dims, grid", [(1, (1, 1, 20)), (2, (1, 12, 10)), (3, (4, 5, 6))])
def test_baselines_map_a_history_to_the_next_frame_and_train_every_parameter(arch, dims, grid):
    model = tiny_baseline(arch, spatial_dims=dims).train()
    batch = 1 if arch == "unet" and dims == 3 else 2  # a 3D U-Net pads to 32^3: seconds on 2 cores
    x = torch.randn(batch, T, F, C, *grid)
    out = model(x)
    assert out.shape == (batch, F, C, *grid)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("arch", ["fno", "unet"])
@pytest.mark.parametrize("change, expected", [
    ({"t": 1}, "history 1 (built for 2)"),
    ({"f": 3}, "fields 3 (built for 2)"),
    ({"c": 1}, "components 1 (built for 2)"),
    ({"grid": (1, 1, 16)}, "spatial_dims 1 (built for 2)"),
])
def test_data_of_another_shape_is_refused_naming_expected_and_received(arch, change, expected):
    model = tiny_baseline(arch)
    t, f, c, grid = change.get("t", T), change.get("f", F), change.get("c", C), change.get("grid", (1, 8, 8))
    with pytest.raises(DataFitError, match="built for one data shape") as info:
        model(torch.zeros(1, t, f, c, *grid))
    assert expected in str(info.value) and "history 2, 2 field(s) of 2 component(s), 2D" in str(info.value)
    spec = pde_data.generate("burgers_1d", n_traj=1, steps=3, resolution=16).spec
    with pytest.raises(DataFitError, match="spatial_dims 1 \\(built for 2\\)"):
        model.config.check_fits(spec, history=T)


def test_baseline_train_configs_are_checked_before_any_work(tmp_path):
    both = [DATASETS["1d"], DATASETS["2d"]]
    with pytest.raises(ConfigError, match="exactly one dataset"):
        TrainConfig(datasets=both, model={"arch": "fno"})
    with pytest.raises(ConfigError, match="curriculum_steps"):
        TrainConfig(datasets=[DATASETS["1d"]], model={"arch": "unet"}, curriculum_steps=5)
    with pytest.raises(ConfigError, match="unknown keys \\['dim'\\] for arch 'fno'"):
        TrainConfig(datasets=[DATASETS["1d"]], model={"arch": "fno", "dim": 8})
    with pytest.raises(ConfigError, match="hidden_channels must be a positive int, got 0"):
        TrainConfig(datasets=[DATASETS["1d"]], model={"arch": "fno", "hidden_channels": 0})
    with pytest.raises(ConfigError, match="unknown architecture 'vit'; available: morph, fno, unet"):
        TrainConfig(model={"arch": "vit"})
    assert TrainConfig().arch == "morph" and "arch" not in TrainConfig().to_dict()["model"]  # the default run is unchanged
    with pytest.raises(ConfigError, match="come from the data"):
        FNOConfig.for_data(pde_data.generate("burgers_1d", n_traj=1, steps=3, resolution=16).spec, 2, fields=1)


@pytest.mark.parametrize("module, arch", [("neuralop", "fno"), ("monai", "unet")])
def test_without_the_extra_a_baseline_names_the_install_command(monkeypatch, module, arch):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    for name in [n for n in sys.modules if n.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    config = (FNOConfig if arch == "fno" else UNetConfig)(history=1, fields=1, components=1, spatial_dims=1)
    with pytest.raises(ImportError, match="pip install 'morph-pde\\[baselines\\]'"):
        (FNO if arch == "fno" else UNet)(config)


def read_rows(run):
    with (run / "metrics.csv").open() as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def test_a_baseline_run_resumes_to_the_same_state(tmp_path, cache):
    needs("fno")
    config = run_config(tmp_path, cache, "fno", steps=6, checkpoint_every=3, keep_checkpoints=5)
    first = train(config, progress=False)
    losses, weights = read_rows(first.output_dir), load_pretrained(first.output_dir).state_dict()
    # as if killed after step 3: the later checkpoint and the final model are gone
    shutil.rmtree(first.output_dir / "checkpoints" / "step_00000006")
    shutil.rmtree(first.checkpoint)
    again = train(config, resume=True, progress=False)
    assert read_rows(again.output_dir) == losses
    for name, tensor in load_pretrained(again.output_dir).state_dict().items():
        torch.testing.assert_close(tensor, weights[name], rtol=0, atol=0)


def test_morph_pretrain_arch_then_evaluate_and_rollout_from_the_cli(tmp_path, monkeypatch, capsys):
    needs("fno")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store, out = str(tmp_path / "b.zarr"), tmp_path / "run"
    pde_data.convert(pde_data.generate("burgers_1d", n_traj=6, steps=9, resolution=32, seed=3), store,
                     progress=False)
    main(["pretrain", "--arch", "fno", "--dataset", store, "--model", "hidden_channels=8", "--model", "n_modes=4",
          "--model", "n_layers=2", "--steps", "3", "--batch-size", "4", "--warmup", "1", "--out", str(out),
          "--quiet"])
    assert f"checkpoint: {out / 'final'}" in capsys.readouterr().out
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["model"] == {"arch": "fno", "hidden_channels": 8, "n_modes": 4, "n_layers": 2, "predict_delta": True,
                              "delta_scale": True}
    main(["evaluate", "--checkpoint", str(out), "--data", store, "--horizon", "3", "--json",
          str(tmp_path / "m.json"), "--quiet"])
    assert "| u | nRMSE |" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["setup"]["history"] == 2
    main(["rollout", "--checkpoint", str(out), "--data", store, "--steps", "3", "--out", str(tmp_path / "r.nc")])
    assert "nRMSE step 1" in capsys.readouterr().out
    other = str(tmp_path / "sw.zarr")
    pde_data.convert(pde_data.generate("shallow_water_2d", n_traj=2, steps=4, resolution=8), other, progress=False)
    with pytest.raises(SystemExit) as exit_info:  # a 2D dataset does not fit a 1D baseline: our error, exit 2
        main(["evaluate", "--checkpoint", str(out), "--data", other, "--quiet"])
    assert exit_info.value.code == 2 and "built for one data shape" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # LoRA levels are MORPH's: a baseline checkpoint is refused, with the way on
        main(["finetune", "--checkpoint", str(out), "--data", store, "--out", str(tmp_path / "ft"), "--quiet"])
    assert "holds a fno baseline" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a preset is MORPH's: refused by name for a baseline
        main(["pretrain", "--arch", "unet", "--dataset", store, "--preset", "S", "--out", str(out), "--quiet"])
    assert "unknown keys ['preset'] for arch 'unet'" in capsys.readouterr().err
