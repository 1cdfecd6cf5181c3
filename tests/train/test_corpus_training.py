"""`morph data corpus` builds the corpus; `--dataset corpus:DIR` trains on all of it."""

import json
import re
from pathlib import Path

import pytest
import yaml

from morph.cli import main
from morph.train import ConfigError, TrainConfig, train
from tests.conftest import TINY_MODEL


def simulator_shares(config: TrainConfig, corpus: Path) -> dict[str, float]:
    """The summed weight per simulator of `config`'s datasets, which are stores of `corpus`."""
    stores = json.loads((corpus / "corpus.json").read_text())["stores"]
    share: dict[str, float] = {}
    for d in config.datasets:
        name = stores[str(Path(d.source).relative_to(corpus))]["simulator"]
        share[name] = share.get(name, 0) + d.weight
    return share


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
    assert sorted(d.source for d in config.datasets) == sorted(str(corpus / p) for p in stores)
    share = simulator_shares(config, corpus)
    assert share == pytest.approx({"burgers_1d": 0.5, "heat_1d": 0.5})
    result = train(config, progress=False)
    assert result.steps == 3 and len(result.per_dataset) >= 2


def test_a_corpus_named_relative_to_the_working_directory_is_recorded_so(corpus, monkeypatch):
    """A run's train_config.json names the stores as the corpus was named, not by this machine's
    absolute path (committed records carry no such path)."""
    monkeypatch.chdir(corpus.parent)
    config = TrainConfig(datasets=[f"corpus:{corpus.name}"], model={"preset": "Ti", **TINY_MODEL})
    recorded = [d["source"] for d in config.to_dict()["datasets"]]
    stores = json.loads((corpus / "corpus.json").read_text())["stores"]
    assert sorted(recorded) == sorted(f"{corpus.name}/{path}" for path in stores)
    assert TrainConfig.from_dict(config.to_dict()).datasets == config.datasets


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


def test_exclude_leaves_simulators_out_of_a_corpus_source(corpus, tmp_path):
    stores = json.loads((corpus / "corpus.json").read_text())["stores"]
    burgers = sorted(str(corpus / p) for p, e in stores.items() if e["simulator"] == "burgers_1d")
    config = TrainConfig(datasets=[{"source": f"corpus:{corpus}", "weight": 2.0, "exclude": ["heat_1d"]}],
                         model={"preset": "Ti", **TINY_MODEL, "max_ar": 2}, history=2)
    assert sorted(d.source for d in config.datasets) == burgers
    assert sum(d.weight for d in config.datasets) == pytest.approx(2.0)  # the kept simulators share it all
    assert all(d.exclude == [] for d in config.datasets)
    # the same from a YAML file, the way a leave-family-out config names it
    path = tmp_path / "held_out.yaml"
    path.write_text(f'datasets:\n  - {{source: "corpus:{corpus}", exclude: [heat_1d]}}\nhistory: 2\n'
                    f'model: {{preset: Ti, max_ar: 2}}\n')
    assert sorted(d.source for d in TrainConfig.from_file(path).datasets) == burgers


def test_simulator_weights_scale_a_simulators_share_of_a_corpus_source(corpus):
    config = TrainConfig(datasets=[{"source": f"corpus:{corpus}", "weight": 2.0,
                                    "simulator_weights": {"heat_1d": 3.0}}],
                         model={"preset": "Ti", **TINY_MODEL, "max_ar": 2}, history=2)
    share = simulator_shares(config, corpus)
    assert share == pytest.approx({"burgers_1d": 0.5, "heat_1d": 1.5})  # 1 : 3 of the source's 2.0
    assert all(d.simulator_weights == {} for d in config.datasets)
    # with the other simulator excluded, the weighted one takes the whole weight
    config = TrainConfig(datasets=[{"source": f"corpus:{corpus}", "exclude": ["burgers_1d"],
                                    "simulator_weights": {"heat_1d": 3.0}}],
                         model={"preset": "Ti", **TINY_MODEL, "max_ar": 2}, history=2)
    assert sum(d.weight for d in config.datasets) == pytest.approx(1.0)


def test_simulator_weights_split_a_simulators_share_evenly_among_its_stores(tmp_path):
    # `corpus:DIR` expansion reads the manifest only: one simulator with two stores, one with one
    stores = {"a-periodic.zarr": {"simulator": "allen_cahn_2d"}, "a-neumann.zarr": {"simulator": "allen_cahn_2d"},
              "h.zarr": {"simulator": "heat_3d"}}
    (tmp_path / "corpus.json").write_text(json.dumps({"stores": stores, "complete": True}))
    sources = TrainConfig(datasets=[{"source": f"corpus:{tmp_path}", "simulator_weights": {"heat_3d": 2.0}}],
                          model={"preset": "Ti", **TINY_MODEL, "max_ar": 2}, history=2).datasets
    weights = {Path(d.source).name: d.weight for d in sources}
    assert weights == pytest.approx({"a-periodic.zarr": 1 / 6, "a-neumann.zarr": 1 / 6, "h.zarr": 2 / 3})


@pytest.mark.parametrize("weights, message", [
    ({"kdv_1d": 2.0}, "simulator_weights names kdv_1d, not in the corpus; it holds burgers_1d, heat_1d"),
    ({"heat_1d": 0}, "simulator_weights must map simulator names to finite numbers > 0"),
    ({"heat_1d": float("inf")}, "simulator_weights must map simulator names to finite numbers > 0"),
    ({"heat_1d": True}, "simulator_weights must map simulator names to finite numbers > 0"),
    ({"heat_1d": "3"}, "simulator_weights must map simulator names to finite numbers > 0"),
    (["heat_1d"], "simulator_weights must map simulator names to finite numbers > 0"),
])
def test_bad_simulator_weights_are_refused_with_what_to_give(corpus, weights, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(datasets=[{"source": f"corpus:{corpus}", "simulator_weights": weights}])


def test_simulator_weights_on_a_source_that_is_not_a_corpus_is_refused():
    with pytest.raises(ConfigError, match="simulator_weights scales the simulators of a corpus:DIR source only"):
        TrainConfig(datasets=[{"source": "burgers_1d", "simulator_weights": {"burgers_1d": 2.0}}])


@pytest.mark.parametrize("exclude, message", [
    (["kdv_1d"], "exclude names kdv_1d, not in the corpus; it holds burgers_1d, heat_1d"),
    (["heat_1d", "no_such_pde"], "exclude names no_such_pde, not in the corpus; it holds burgers_1d, heat_1d"),
    (["burgers_1d", "heat_1d"], r"exclude leaves out every simulator of the corpus \(burgers_1d, heat_1d\)"),
    ("heat_1d", "exclude must be a list of simulator names, got 'heat_1d'"),
])
def test_a_bad_exclude_names_what_the_corpus_holds(corpus, exclude, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(datasets=[{"source": f"corpus:{corpus}", "exclude": exclude}])


def test_exclude_on_a_source_that_is_not_a_corpus_is_refused():
    with pytest.raises(ConfigError, match=r"exclude \(heat_1d\) leaves simulators out of a corpus:DIR source only"):
        TrainConfig(datasets=[{"source": "burgers_1d", "exclude": ["heat_1d"]}])


def test_pretrain_exclude_flag_and_a_dataset_that_replaces_the_config_files_corpus(corpus, tmp_path, capsys):
    config = tmp_path / "c.yaml"  # its corpus does not exist: --dataset replaces it before it is read
    config.write_text(yaml.safe_dump(dict(
        datasets=[{"source": f"corpus:{tmp_path / 'elsewhere'}", "exclude": ["kdv_1d"]}],
        model={"preset": "Ti", **TINY_MODEL, "max_ar": 2}, history=2, batch_size=2, val_windows=2,
        cache_dir=str(tmp_path / "cache"))))
    out = tmp_path / "run"
    main(["pretrain", "--config", str(config), "--dataset", f"corpus:{corpus}", "--exclude", "heat_1d",
          "--steps", "2", "--out", str(out), "--quiet"])
    saved = TrainConfig.from_run(out)
    assert saved.datasets and all("burgers_1d" in Path(d.source).name for d in saved.datasets) and saved.steps == 2
    # --exclude alone reaches the corpus of the config file
    settings = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**settings, "datasets": [f"corpus:{corpus}"]}))
    main(["pretrain", "--config", str(config), "--exclude", "heat_1d", "--steps", "1", "--out", str(tmp_path / "x"),
          "--quiet"])
    assert [Path(d.source).name.split("-")[0] for d in TrainConfig.from_run(tmp_path / "x").datasets] == ["burgers_1d"]
    capsys.readouterr()
    for args, message in [(["--config", str(config), "--exclude", "burgers_1d", "--exclude", "heat_1d"],
                           r"exclude leaves out every simulator of the corpus \(burgers_1d, heat_1d\)"),
                          (["--dataset", "burgers_1d", "--exclude", "heat_1d"],
                           "--exclude heat_1d: leaves simulators out of a corpus:DIR dataset, and none is given")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["pretrain", *args, "--steps", "1", "--out", str(tmp_path / "y"), "--quiet"])
        assert exit_info.value.code == 2
        assert re.search(message, capsys.readouterr().err)
