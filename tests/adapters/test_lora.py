"""LoRA through peft: where it lands, B = 0, merge, adapter-only save/load onto the base."""

import json

import pytest
import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file

import adapters
from adapters.lora import ADAPTER_WEIGHTS_FILE
from morph import MORPH, CheckpointError
from tests.adapters.helpers import perturb_trainable, save_base, tiny_config

X = torch.randn(2, 2, 2, 3, 1, 6, 5, generator=torch.Generator().manual_seed(3))  # (B, t, F, C, D, H, W)
X3D = torch.randn(1, 2, 1, 2, 4, 5, 6, generator=torch.Generator().manual_seed(4))


def outputs(model, *inputs):
    with torch.no_grad():
        return [model.eval()(x) for x in inputs]


@pytest.fixture
def base(tmp_path):
    return MORPH.from_pretrained(save_base(tmp_path / "base"))


def test_lora_lands_on_the_attention_and_mlp_linears_of_every_block_only(base):
    expected = {f"encoder.blocks.0.attention.{axis}.{p}" for axis in ("time", "depth", "height", "width")
                for p in "qkvo"} | {"encoder.blocks.0.mlp.fc1", "encoder.blocks.0.mlp.fc2"}
    adapters.add_lora(base, rank=4)
    adapted = {name for name, module in base.named_modules() if isinstance(module, LoraLayer)}
    assert adapted == expected
    trainable = [name for name, p in base.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in name or ".lora_B." in name for name in trainable)
    assert isinstance(base, MORPH)


def test_lora_targets_can_be_narrowed(base):
    adapters.add_lora(base, rank=2, targets=["q", "v"])
    adapted = {name.rsplit(".", 1)[-1] for name, m in base.named_modules() if isinstance(m, LoraLayer)}
    assert adapted == {"q", "v"}


def test_lora_with_b_zero_equals_the_base_model(base):
    before = outputs(base, X, X3D)
    adapters.add_lora(base, rank=4)
    assert all(torch.count_nonzero(m.lora_B["default"].weight) == 0
               for m in base.modules() if isinstance(m, LoraLayer))
    for a, b in zip(before, outputs(base, X, X3D)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("modules_to_save", [None, ("decoder", "attn_norm")])
def test_merged_and_unmerged_outputs_are_equal(base, modules_to_save):
    adapters.add_lora(base, rank=4, modules_to_save=modules_to_save)
    perturb_trainable(base)
    merged = adapters.merge(base)
    assert type(merged) is MORPH and not adapters.has_lora(merged)
    assert set(merged.state_dict()) == set(MORPH(base.config).state_dict())
    assert adapters.has_lora(base), "merge leaves its input as it was"
    for a, b in zip(outputs(base, X, X3D), outputs(merged, X, X3D)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_adapter_save_load_round_trip_and_from_pretrained_of_the_adapter_directory(tmp_path, base):
    adapters.add_lora(base, rank=4)
    perturb_trainable(base)
    base.metadata = {"note": "tuned"}
    expected = outputs(base, X, X3D)
    adapters.save_adapter(base, tmp_path / "adapter")
    files = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert files == ["adapter_config.json", ADAPTER_WEIGHTS_FILE, "config.json", "metadata.json"]
    peft_config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert peft_config["peft_type"] == "LORA" and peft_config["r"] == 4
    assert peft_config["base_model_name_or_path"] == str((tmp_path / "base").resolve())
    weights = load_file(str(tmp_path / "adapter" / ADAPTER_WEIGHTS_FILE))
    assert weights and all(".lora_A." in k or ".lora_B." in k for k in weights)
    assert (tmp_path / "adapter" / ADAPTER_WEIGHTS_FILE).stat().st_size < \
        (tmp_path / "base" / "model.safetensors").stat().st_size / 5

    loaded = adapters.load_adapter(tmp_path / "adapter")
    assert adapters.has_lora(loaded) and loaded.metadata == {"note": "tuned"}
    merged = MORPH.from_pretrained(tmp_path / "adapter")
    assert type(merged) is MORPH and not adapters.has_lora(merged)
    assert merged.source == str((tmp_path / "adapter").resolve())
    for want, a, b in zip(expected, outputs(loaded, X, X3D), outputs(merged, X, X3D)):
        torch.testing.assert_close(a, want, rtol=0, atol=0)
        torch.testing.assert_close(b, want, rtol=1e-5, atol=1e-5)


def test_save_pretrained_of_a_lora_model_writes_the_adapter(tmp_path, base):
    adapters.add_lora(base, rank=2)
    base.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "adapter_config.json").is_file()
    assert not (tmp_path / "ckpt" / "model.safetensors").exists()


def test_a_run_directory_loads_as_its_final_checkpoint(tmp_path, base):
    base.save_pretrained(tmp_path / "run" / "final")
    (tmp_path / "run" / "metrics.csv").write_text("step\n")
    assert torch.equal(*[m(X) for m in (MORPH.from_pretrained(tmp_path / "run"), base)])


def test_an_adapter_without_a_base_reference_cannot_be_saved(tmp_path):
    model = MORPH(tiny_config())
    adapters.add_lora(model, rank=2)
    with pytest.raises(CheckpointError, match="base='starter'"):
        adapters.save_adapter(model, tmp_path / "adapter")
    adapters.merge(model)  # merging needs no base


def test_the_starter_reference_is_recorded_as_is(tmp_path):
    model = MORPH(tiny_config())
    adapters.add_lora(model, rank=2, base="starter")
    adapters.save_adapter(model, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "starter"


@pytest.mark.parametrize("call, message", [
    (lambda m: adapters.add_lora(adapters.add_lora(m), rank=2), "already carries a LoRA adapter"),
    (lambda m: adapters.add_lora(m, targets=["q_proj"]), "name no linear layer"),
    (lambda m: adapters.add_lora(m, rank=0), "rank must be a positive int"),
])
def test_bad_lora_requests_are_refused(base, call, message):
    with pytest.raises(ValueError, match=message):
        call(base)


def test_an_adapter_refuses_a_base_of_another_architecture(tmp_path, base):
    adapters.add_lora(base, rank=2)
    adapters.save_adapter(base, tmp_path / "adapter")
    save_base(tmp_path / "other", dim=48)
    with pytest.raises(CheckpointError, match="another architecture.*dim: adapter 32 vs base 48"):
        adapters.load_adapter(tmp_path / "adapter", base=str(tmp_path / "other"))


def test_an_adapter_refuses_a_base_whose_weights_changed(tmp_path, base):
    adapters.add_lora(base, rank=2)
    adapters.save_adapter(base, tmp_path / "adapter")
    save_base(tmp_path / "base", seed=5)  # same architecture, other weights, same place
    with pytest.raises(CheckpointError, match="trained on other weights"):
        MORPH.from_pretrained(tmp_path / "adapter")
    assert adapters.has_lora(adapters.load_adapter(tmp_path / "adapter", check_base=False))


def test_an_adapter_whose_base_is_gone_names_it(tmp_path, base):
    adapters.add_lora(base, rank=2)
    adapters.save_adapter(base, tmp_path / "adapter")
    (tmp_path / "base" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="its base checkpoint .* cannot be loaded"):
        MORPH.from_pretrained(tmp_path / "adapter")
