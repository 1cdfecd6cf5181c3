"""`morph data corpus` builds the corpus; `--dataset corpus:DIR` trains on all of it."""

import json

import pytest

from morph.cli import main
from morph.train import ConfigError, TrainConfig, train
from tests.conftest import TINY_MODEL


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "c"
    main(["data", "corpus", "--out", str(out), "--scale", "tiny", "--only", "burgers_1d", "--only", "heat_1d",
          "--quiet"])
    return out


def test_morph_data_corpus_writes_stores_and_a_manifest(corpus, capsys):
    manifest = json.loads((corpus / "corpus.json").read_text())
    simulators = {entry["simulator"] for entry in manifest["stores"].values()}
    assert simulators == {"burgers_1d", "heat_1d"}
    assert all((corpus / path / "zarr.json").is_file() for path in manifest["stores"])
    main(["data", "corpus", "--out", str(corpus), "--scale", "tiny", "--only", "burgers_1d", "--only", "heat_1d",
          "--quiet"])  # again: everything kept
    assert "train on it with --dataset corpus:" in capsys.readouterr().out


def test_a_corpus_source_trains_on_every_store_with_equal_shares_per_simulator(corpus, tmp_path):
    stores = json.loads((corpus / "corpus.json").read_text())["stores"]
    config = TrainConfig(datasets=[f"corpus:{corpus}"], model={"preset": "Ti", **TINY_MODEL, "max_ar": 2},
                         history=2, steps=3, batch_size=2, val_windows=2, output_dir=str(tmp_path / "run"),
                         cache_dir=str(tmp_path / "cache"))
    assert sorted(d.source for d in config.datasets) == sorted(str((corpus / p).resolve()) for p in stores)
    share = {}
    for d in config.datasets:
        name = stores[d.source[len(str(corpus.resolve())) + 1:]]["simulator"]
        share[name] = share.get(name, 0) + d.weight
    assert share == pytest.approx({"burgers_1d": 0.5, "heat_1d": 0.5})
    result = train(config, progress=False)
    assert result.steps == 3 and len(result.per_dataset) >= 2


def test_a_corpus_source_without_a_manifest_says_how_to_build_it(tmp_path):
    with pytest.raises(ConfigError, match="corpus.json does not exist; build the corpus first"):
        TrainConfig(datasets=[f"corpus:{tmp_path}"])


def test_an_interrupted_corpus_is_refused_until_it_is_finished(corpus, tmp_path):
    manifest = json.loads((corpus / "corpus.json").read_text())
    assert manifest["complete"] is True
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "corpus.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ConfigError, match="is not complete .*finish it with the same morph data corpus command"):
        TrainConfig(datasets=[f"corpus:{tmp_path / 'c'}"])
