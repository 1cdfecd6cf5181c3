"""Config files and settings: `extends:`, `--set KEY=VALUE`, typed models, one resume rule."""

import dataclasses

import pytest

from morph.cli import main
from morph.model import FNOConfig
from morph.train import ConfigError, TrainConfig
from morph.train.config import DEFAULT_MODEL, model_from_dict, model_to_dict
from morph.train.config_files import apply_settings, merge_values, read_config_file


def test_extends_is_relative_to_the_file_and_merges_the_model_key_by_key(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "base.yaml").write_text("model: {dim: 64, heads: 4, max_ar: 4}\nhistory: 4\nlr: 1e-3\n")
    (tmp_path / "child.yaml").write_text("extends: base/base.yaml\nmodel: {depth: 2}\nlr: 3e-4\n")
    (tmp_path / "grandchild.yaml").write_text("extends: child.yaml\nsteps: 7\n")
    config = TrainConfig.from_file(tmp_path / "grandchild.yaml")
    assert (config.model.dim, config.model.depth, config.model.max_ar) == (64, 2, 4)
    assert (config.history, config.lr, config.steps) == (4, 3e-4, 7)


def test_an_extends_circle_or_a_missing_base_is_a_config_error_naming_the_files(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="is a circle"):
        read_config_file(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml does not exist"):
        read_config_file(tmp_path / "c.yaml")


def test_a_preset_laid_over_a_model_replaces_the_sizes_it_sets_and_keeps_the_rest():
    merged = merge_values({"model": model_to_dict(DEFAULT_MODEL)}, {"model": {"preset": "S"}})
    model = model_from_dict(merged["model"])
    assert (model.dim, model.heads, model.depth) == (512, 8, 4)  # S's sizes
    assert (model.patch_size, model.max_ar, model.boundary_padding) == (4, 4, True)  # the default run's


def test_set_overrides_any_key_dotted_for_nested_ones_values_read_as_yaml():
    values = apply_settings(TrainConfig().to_dict(), ["model.depth=6", "lr=3e-4", "min_history=null",
                                                      "compile=true"], TrainConfig)
    config = TrainConfig.from_dict(values)
    assert config.model.depth == 6 and config.lr == 3e-4 and config.compile is True


@pytest.mark.parametrize("setting, message", [
    ("learning_rate=1", r"unknown key 'learning_rate'; valid keys: .*\blr\b"),
    ("model.width=3", r"unknown key 'width' of model; valid keys: .*model\.dim"),
    ("lr.x=3", "lr is not a mapping"),
    ("lr", "setting 'lr': expected KEY=VALUE"),
])
def test_an_unknown_set_key_is_refused_naming_it_and_the_valid_ones(setting, message):
    with pytest.raises(ConfigError, match=message):
        apply_settings(TrainConfig().to_dict(), [setting], TrainConfig)


def test_a_baseline_model_is_its_config_and_its_record_holds_the_sizes_only():
    config = TrainConfig(datasets=["burgers_1d"], model={"arch": "fno", "hidden_channels": 8})
    assert isinstance(config.model, FNOConfig) and config.arch == "fno"
    assert config.to_dict()["model"] == {"arch": "fno", "hidden_channels": 8, "n_modes": 16, "n_layers": 4,
                                         "predict_delta": True, "delta_scale": True}
    assert TrainConfig.from_dict(config.to_dict()).model == config.model
    with pytest.raises(ConfigError, match="fields of a fno baseline come from the data"):
        TrainConfig(datasets=["burgers_1d"], model={"arch": "fno", "fields": 2})


def test_a_train_config_takes_a_morph_config_and_records_every_field_without_a_preset():
    model = dataclasses.replace(DEFAULT_MODEL, depth=3)
    config = TrainConfig(model=model)
    assert config.model is model and "preset" not in config.to_dict()["model"]
    assert TrainConfig.from_dict(config.to_dict()).model == model


@pytest.mark.parametrize("command", [
    ["pretrain", "--set", "model.widht=3"],
    ["finetune", "--checkpoint", "starter", "--data", "burgers_1d", "--set", "train.lrr=1"],
])
def test_pretrain_and_finetune_refuse_an_unknown_set_key_before_anything_runs(command, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--out", str(tmp_path / "run"), "--quiet"])
    key = command[-1].split("=")[0]
    assert f"{key}: unknown key '{key.split('.')[1]}' of {key.split('.')[0]}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_finetune_holds_its_training_settings_typed_and_records_the_given_ones_only():
    from adapters import FinetuneConfig, FinetuneTraining

    config = FinetuneConfig(checkpoint="starter", data="burgers_1d", train={"steps": 5, "lr": 1e-3})
    assert isinstance(config.train, FinetuneTraining) and (config.train.steps, config.train.lr) == (5, 1e-3)
    assert config.train.batch_size is None  # the fine-tune's default
    assert config.to_dict()["train"] == {"steps": 5, "lr": 1e-3}
    assert FinetuneConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"unknown keys \['lrr'\]"):
        FinetuneConfig(checkpoint="starter", data="burgers_1d", train={"lrr": 1})
    with pytest.raises(ConfigError, match=r"train keys \['model'\] are set by the fine-tune itself"):
        FinetuneConfig(checkpoint="starter", data="burgers_1d", train={"model": {}})


def test_one_resume_rule_for_pretraining_and_fine_tuning():
    from adapters import FinetuneConfig

    from morph.train.config import resume_conflicts

    saved = FinetuneConfig(checkpoint="starter", data="burgers_1d", level=2, train={"steps": 5})
    longer = dataclasses.replace(saved, horizon=3, train={"steps": 50})  # the length may change ...
    assert resume_conflicts(saved, FinetuneConfig(**longer.to_dict())) == []
    assert resume_conflicts(saved, dataclasses.replace(saved, level=1)) == ["level: 2 -> 1"]  # ... not the model
    assert resume_conflicts(TrainConfig(), TrainConfig(steps=9, lr=3e-4)) == ["lr: 0.001 -> 0.0003"]
