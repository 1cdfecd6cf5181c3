"""The committed configs and run records load with this version, and the example configs that extend
another resolve to exactly the configs they were before."""

import json
from pathlib import Path

import pytest

from morph.checkpoint.architectures import config_from_dict
from morph.config import MorphConfig
from morph.train import TrainConfig
from morph.train.config import model_from_dict

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.yaml"))
RUN_RECORDS = sorted(ROOT.glob("examples/*/train_config.json"))
CHECKPOINT_CONFIGS = sorted([*ROOT.glob("examples/*/weights/config.json"), ROOT / "morph/weights/starter/config.json"])
#: The example configs as they were before they named a base with `extends:`.
BEFORE_EXTENDS = json.loads((Path(__file__).parent / "example_configs_before_extends.json").read_text())


@pytest.fixture
def small_corpus_manifest(tmp_path, monkeypatch):
    """A working directory with a manifest of the small corpus in runs/corpus (what the example configs
    name; expanding `corpus:DIR` reads the manifest only): one store per built-in simulator."""
    import pde_data

    corpus = tmp_path / "runs" / "corpus"
    corpus.mkdir(parents=True)
    stores = {f"{name}/default-r32": {"simulator": name} for name in pde_data.SIMULATORS}
    (corpus / "corpus.json").write_text(json.dumps({"stores": stores, "complete": True}))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_every_example_config_loads(path, small_corpus_manifest):
    config = TrainConfig.from_file(path)
    assert isinstance(config.model, MorphConfig) and config.datasets


@pytest.mark.parametrize("path", RUN_RECORDS, ids=lambda p: p.parent.name)
def test_every_committed_run_record_loads_and_round_trips(path):
    config = TrainConfig.from_run(path.parent)
    record = json.loads(path.read_text())
    assert config.morph_config() == model_from_dict(record["model"])  # written with a preset, read typed
    assert TrainConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
    assert config.resume_conflicts(TrainConfig.from_dict(record)) == []  # resumable by this version


@pytest.mark.parametrize("path", CHECKPOINT_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_every_committed_checkpoint_config_loads(path):
    assert isinstance(config_from_dict(json.loads(path.read_text())), MorphConfig)


@pytest.mark.parametrize("name", sorted(k for k in BEFORE_EXTENDS if not k.startswith("_")))
def test_an_example_config_that_extends_another_resolves_to_the_config_it_was_before(name, small_corpus_manifest):
    path = ROOT / "examples" / "configs" / name
    assert "extends" in path.read_text()
    assert TrainConfig.from_file(path).to_dict() == TrainConfig.from_dict(BEFORE_EXTENDS[name]).to_dict()
    assert len(path.read_text().splitlines()) < 30
