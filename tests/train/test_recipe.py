"""examples/configs/recipe.yaml: the pretraining recipe loads and runs at tiny scale."""

from pathlib import Path

from morph.cli import main
from morph.train import TrainConfig, train
from morph.train.config_files import read_config_file
from tests.conftest import TINY_MODEL

RECIPE = Path(__file__).parents[2] / "examples" / "configs" / "recipe.yaml"


def test_the_recipe_uses_the_options_its_comments_promise():
    recipe = TrainConfig.from_file(RECIPE, datasets=["burgers_1d"])  # its corpus need not exist to read it
    raw = read_config_file(RECIPE)
    assert [d["source"] for d in raw["datasets"]] == ["corpus:runs/corpus"]
    assert recipe.min_history == 2 and recipe.history == recipe.morph_config().max_ar == 4
    # off, as measured best at CPU budgets (docs/benchmarks/recipe-ablation.md)
    assert recipe.curriculum_steps == 0 and recipe.unroll == 1 and recipe.noise == 0
    assert recipe.loss_balance == "ema" and 0 < recipe.warmup_steps < recipe.steps and recipe.min_lr_ratio < 1


def test_the_recipe_trains_a_few_steps_on_a_corpus(corpus, tmp_path):
    raw = read_config_file(RECIPE)
    config = TrainConfig.from_dict({
        **raw, "datasets": [f"corpus:{corpus}"], "model": {**raw["model"], **TINY_MODEL, "max_ar": 4},
        "steps": 4, "curriculum_steps": 1, "warmup_steps": 1, "batch_size": 2, "val_windows": 2,
        "checkpoint_every": 2, "num_workers": 0, "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache")})
    assert len(config.datasets) == 2 and config.min_history == 2 and config.loss_balance == "ema"
    result = train(config, progress=False)
    assert result.steps == 4 and result.final_loss == result.final_loss  # not NaN
    # a row per store, named by its file
    assert set(result.per_dataset) == {Path(d.source).name for d in config.datasets}
    assert sorted(label.split("-")[0] for label in result.per_dataset) == ["burgers_1d", "heat_1d"]


def test_the_recipe_through_the_cli_with_the_corpus_given_on_the_command_line(corpus, tmp_path):
    out = tmp_path / "run"
    main(["pretrain", "--config", str(RECIPE), "--dataset", f"corpus:{corpus}", "--exclude", "heat_1d",
          "--steps", "2", "--batch-size", "2", "--curriculum-steps", "1", "--num-workers", "0",
          "--model", "dim=32", "--model", "heads=2", "--set", "model.depth=1", "--set", "model.mlp_dim=48",
          "--set", "model.heads_xa=2", "--set", "lr=3e-4", "--out", str(out), "--quiet"])
    saved = TrainConfig.from_run(out)
    assert [Path(d.source).name.split("-")[0] for d in saved.datasets] == ["burgers_1d"]
    assert saved.loss_balance == "ema" and saved.steps == 2 and saved.model.dim == 32
    assert (saved.model.depth, saved.model.mlp_dim, saved.lr) == (1, 48, 3e-4)
