"""save_pretrained / from_pretrained: round trip, atomic replace, clear errors, "starter"."""

import json

import pytest
import torch

import morph.checkpoint.files
import morph.checkpoint.full
from morph.checkpoint import CheckpointError
from morph.model import MORPH
from tests.conftest import tiny_config

TINY = tiny_config(max_ar=2)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MORPH(TINY).eval()


def test_a_saved_model_loads_back_with_the_same_config_weights_and_metadata(tmp_path, model):
    stats = {"mean": [0.1, 0.2], "std": [1.0, 2.0]}
    model.save_pretrained(tmp_path / "ckpt", metadata={"normalisation": stats})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.json", "metadata.json", "model.safetensors"]
    loaded = MORPH.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == TINY and not loaded.training
    assert loaded.metadata == {"normalisation": stats}
    x = torch.randn(2, 2, 2, 3, 5, 6, 7)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_files(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt", metadata={"old": True})
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert not (tmp_path / "ckpt" / "metadata.json").exists()


def test_a_saved_checkpoint_is_readable_by_others_as_the_umask_allows(tmp_path, model):
    import os
    import stat

    old = os.umask(0o022)
    try:
        model.save_pretrained(tmp_path / "ckpt")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "ckpt", *(tmp_path / "ckpt").iterdir()]}
    assert modes == {"ckpt": 0o755, "config.json": 0o644, "model.safetensors": 0o644}


def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, model, monkeypatch):
    model.save_pretrained(tmp_path / "ckpt")
    before = (tmp_path / "ckpt" / "model.safetensors").read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(morph.checkpoint.full, "save_file", fail)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_config_overrides_apply_on_load(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt")
    assert MORPH.from_pretrained(tmp_path / "ckpt", dropout=0.2).config.dropout == 0.2


def test_a_corrupt_weights_file_is_refused_naming_the_file(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match=r"Corrupt weights file .*model.safetensors.*re-save"):
        MORPH.from_pretrained(tmp_path / "ckpt")


def test_weights_that_do_not_fit_the_config_are_refused_naming_the_tensors(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt")
    config_path = tmp_path / "ckpt" / "config.json"
    config_path.write_text(json.dumps({**TINY.to_dict(), "mlp_dim": 64}))
    with pytest.raises(CheckpointError, match=r"does not match its config.json: wrong shape .*fc1.weight"):
        MORPH.from_pretrained(tmp_path / "ckpt")


def test_an_invalid_config_file_is_refused_naming_the_file(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**TINY.to_dict(), "heads": 3}))
    with pytest.raises(CheckpointError, match=r"Invalid .*config.json: .*divisible by heads"):
        MORPH.from_pretrained(tmp_path / "ckpt")


def test_a_missing_directory_is_refused_with_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint directory at .*save_pretrained"):
        MORPH.from_pretrained(tmp_path / "nowhere")


def test_starter_names_the_packaged_weights(tmp_path, model, monkeypatch):
    monkeypatch.setattr(morph.checkpoint.files, "PACKAGED_WEIGHTS", tmp_path / "weights")
    with pytest.raises(CheckpointError, match="'starter' model is not shipped .* yet"):
        MORPH.from_pretrained("starter")
    model.save_pretrained(tmp_path / "weights" / "starter")
    assert MORPH.from_pretrained("starter").config == TINY


def test_weights_are_loaded_on_cpu(tmp_path, model):
    model.save_pretrained(tmp_path / "ckpt")
    loaded = MORPH.from_pretrained(tmp_path / "ckpt")
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
