"""Checkpoints named by Hugging Face Hub id, read from a Hub cache on disk with HF_HUB_OFFLINE=1
(the tests never reach the Hub): the cache is laid out as huggingface_hub writes it (refs,
snapshots of symlinks into content-addressed blobs)."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from morph import MORPH
from morph.checkpoint import CheckpointError, load_pretrained
from morph.checkpoint.hub import HubReference, parse_hub_reference
from morph.checkpoint.official import OFFICIAL_FILES, OFFICIAL_HUB_FOLDER, OFFICIAL_HUB_REPO
from morph.cli import main
from morph.cli.app import app
from morph.config import MorphConfig
from benchmarks.padded_reference import ReferenceSizes, random_official_state
from tests.conftest import tiny_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def add_to_hub_cache(cache: Path, repo_id: str, files: dict[str, Path], revision: str = "main",
                     commit: str = COMMIT) -> Path:
    """Put `files` ({path in the repository: local file}) into the Hub cache `cache` as the
    snapshot `commit` of `repo_id`, with the ref `revision` pointing at it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    for name, source in files.items():
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def checkpoint_files(directory: Path, under: str = "") -> dict[str, Path]:
    return {f"{under}{p.relative_to(directory)}": p for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.mark.parametrize("text, expected", [
    ("org/name", HubReference("org/name")),
    ("hf://org/name", HubReference("org/name")),
    ("org/name@v1.0", HubReference("org/name", "v1.0")),
    ("org/name@main/models/ti", HubReference("org/name", "main", "models/ti")),
    ("org/name/models/ti", HubReference("org/name", None, "models/ti")),
    ("./org/name", None), ("/abs/org/name", None), ("starter", None), ("org/../x", None), ("org/name/../..", None),
])
def test_hub_references_are_told_from_paths(text, expected):
    assert parse_hub_reference(text) == expected


def test_a_hub_id_loads_the_cached_checkpoint_offline(tmp_path, offline_cache):
    model = tiny_model(seed=3)
    model.save_pretrained(tmp_path / "ckpt")
    add_to_hub_cache(offline_cache, "someone/tiny-morph", checkpoint_files(tmp_path / "ckpt"))
    loaded = MORPH.from_pretrained("someone/tiny-morph")
    assert loaded.source == "someone/tiny-morph"  # what an adapter on it records as its base
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


def test_a_revision_and_a_subfolder_pick_one_checkpoint_of_several(tmp_path, offline_cache):
    first, second = tiny_model(seed=1), tiny_model(seed=2)
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    files = {**checkpoint_files(tmp_path / "a", "models/a/"), **checkpoint_files(tmp_path / "b", "models/b/")}
    add_to_hub_cache(offline_cache, "org/two", files, revision="v1")
    loaded = load_pretrained("org/two@v1/models/b")
    torch.testing.assert_close(loaded.state_dict()["decoder.linear.weight"], second.state_dict()["decoder.linear.weight"])
    with pytest.raises(CheckpointError, match="holds no config.json .* name the subfolder"):
        load_pretrained("org/two@v1")
    with pytest.raises(CheckpointError, match="org/two@v1/models/c: the repository has no folder"):
        load_pretrained("org/two@v1/models/c")


def test_a_repository_missing_from_the_cache_offline_is_our_error_naming_it(offline_cache):
    with pytest.raises(CheckpointError, match="Hub checkpoint nobody/nothing: not in the local Hugging Face cache "
                                              ".*HF_HUB_OFFLINE is set"):
        MORPH.from_pretrained("nobody/nothing")


def test_a_local_directory_of_the_same_name_wins(tmp_path, offline_cache, monkeypatch):
    local = tiny_model(seed=5)
    local.save_pretrained(tmp_path / "org" / "name")
    monkeypatch.chdir(tmp_path)
    loaded = load_pretrained("org/name")  # nothing for it in the Hub cache: read from the directory
    assert loaded.source == str((tmp_path / "org" / "name").resolve())


def test_import_official_fetches_the_published_file_from_the_hub_cache(tmp_path, offline_cache, capsys):
    sizes = ReferenceSizes(filters=8, dim=256, heads=4, depth=4, mlp_dim=1024, heads_xa=32, max_patches=4096,
                           max_ar=1)
    published = tmp_path / "published.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in random_official_state(sizes, seed=2).items()}},
               published)
    add_to_hub_cache(offline_cache, OFFICIAL_HUB_REPO, {f"{OFFICIAL_HUB_FOLDER}/{OFFICIAL_FILES['Ti']}": published})
    out = tmp_path / "ti"
    result = CliRunner().invoke(app, ["import-official", "--hub", OFFICIAL_HUB_REPO, "--size", "Ti", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"imported {OFFICIAL_HUB_REPO}: " in result.output
    model = MORPH.from_pretrained(out)
    assert model.config == MorphConfig.from_preset("Ti", max_ar=1)
    assert model.metadata == {"hub": OFFICIAL_HUB_REPO, "imported_from": OFFICIAL_FILES["Ti"]}
    shutil.rmtree(offline_cache / f"models--{OFFICIAL_HUB_REPO.replace('/', '--')}")
    with pytest.raises(SystemExit) as missing:  # through the CLI's error handling: our message, exit 2
        main(["import-official", "--hub", OFFICIAL_HUB_REPO, "--size", "S", "--out", str(tmp_path / "s")])
    assert missing.value.code == 2
    err = capsys.readouterr().err
    assert f"{OFFICIAL_HUB_REPO}/{OFFICIAL_HUB_FOLDER}/{OFFICIAL_FILES['S']}: not in the local" in err
    assert f"hf download {OFFICIAL_HUB_REPO} {OFFICIAL_HUB_FOLDER}/{OFFICIAL_FILES['S']}" in err
    both = CliRunner().invoke(app, ["import-official", str(published), "--hub", OFFICIAL_HUB_REPO, "--size", "Ti",
                                    "--out", str(tmp_path / "x")])
    assert both.exit_code == 2 and "either a .pth file or --hub" in both.output


def test_an_adapter_on_a_hub_base_names_it_by_id_and_loads_back(tmp_path, offline_cache):
    import adapters

    tiny_model(seed=4).save_pretrained(tmp_path / "ckpt")
    add_to_hub_cache(offline_cache, "someone/base", checkpoint_files(tmp_path / "ckpt"))
    tuned = adapters.add_lora(MORPH.from_pretrained("someone/base"), rank=2)
    with torch.no_grad():
        for name, parameter in tuned.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    tuned.save_pretrained(tmp_path / "adapter")
    assert '"base_model_name_or_path": "someone/base"' in (tmp_path / "adapter" / "adapter_config.json").read_text()
    x = torch.randn(1, 2, 1, 1, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(load_pretrained(tmp_path / "adapter")(x), tuned.eval()(x))
