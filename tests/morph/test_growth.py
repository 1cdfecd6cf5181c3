"""Growing a MORPH to more fields and components (morph.growth): old outputs kept exactly, new slots
start at persistence, grown models save, load, train and fine-tune (full and adapter)."""

import json
import logging

import pytest
import torch

import adapters
from adapters.levels import apply_level
from morph import MORPH
from morph.growth import Growth, grow, grow_to, new_parts, train_new_parts
from morph.train import TrainConfig, train
from tests.adapters.helpers import perturb_trainable, save_base, save_dataset, tiny_config
from tests.conftest import make_dataset, tiny_model

#: 1D, 2D and 3D inputs (B, t, F, C, D, H, W) of three fields padded to three components.
SHAPES = [(2, 2, 3, 3, 1, 1, 16), (2, 2, 3, 3, 1, 8, 12), (1, 2, 2, 3, 4, 8, 4)]


def pad_components(x: torch.Tensor, components: int) -> torch.Tensor:
    """Zero-pad the C axis of `(B, t, F, C, D, H, W)` to `components` (as the data layer does)."""
    return torch.cat([x, x.new_zeros(*x.shape[:3], components - x.shape[3], *x.shape[4:])], dim=3)


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("switches", [{}, {"boundary_padding": True, "boundary_embedding": True}],
                         ids=["published", "boundaries"])
def test_growth_keeps_the_outputs_on_data_the_model_already_took(shape, switches):
    base = tiny_model(predict_delta=True, **switches)
    once = grow(base, 4, 4).eval()
    twice = grow(once, 6, 5).eval()  # growing a grown model again keeps them too
    x = torch.randn(shape)
    with torch.no_grad():
        expected = base(x)
        assert torch.allclose(once(pad_components(x, 4))[:, :, :3], expected, atol=1e-6)
        assert torch.allclose(twice(pad_components(x, 5))[:, :, :3], expected, atol=1e-6)
    assert once.config.grown_from == ((3, 3),) and twice.config.grown_from == ((3, 3), (4, 4))
    assert (twice.config.max_fields, twice.config.max_components) == (6, 5)


def test_new_slots_start_at_persistence_and_the_first_predictions_keep_the_datas_scale():
    base = tiny_model(predict_delta=True)
    grown = grow(base, 4, 4).eval()
    x = torch.randn(3, 2, 4, 4, 1, 8, 8)  # four fields of four components: a 2x2 tensor's worth
    with torch.no_grad():
        y = grown(x)
    assert torch.equal(y[:, 3], x[:, -1, 3])  # the new field: exactly the last frame
    assert torch.equal(y[:, :, 3], x[:, -1, :, 3])  # the new component of every field too
    step = (x[:, -1] - x[:, -2]).pow(2).mean().sqrt()
    assert torch.isfinite(y).all() and (y - x[:, -1]).pow(2).mean().sqrt() < 3 * step


def test_growth_records_what_it_added_and_refuses_what_it_cannot_do():
    base = tiny_model()
    grown = grow(base, 4, 3)
    added = sum(p.numel() for p in grown.parameters()) - sum(p.numel() for p in base.parameters())
    assert grown.growth == Growth(fields=(3, 4), components=(3, 3), parameters=added)
    assert str(grown.growth) == f"grew max_fields 3 -> 4: +{added:,} parameters"
    assert added == 1 * 3 * 4 ** 3 * (32 + 1)  # one field of 3 components: p**3 rows of dim + bias each
    assert grow(base, 3, 3) is base
    spec = make_dataset(fields=(("a", 1), ("t", 4))).spec
    assert (grow_to(base, [spec]).config.max_fields, grow_to(base, [spec]).config.max_components) == (3, 4)
    with pytest.raises(ValueError, match="cannot shrink to 2 x 3"):
        grow(base, 2, 3)
    adapters.add_lora(base, rank=2, base="starter")
    with pytest.raises(ValueError, match="carries an adapter"):
        grow(base, 4, 4)


def test_a_grown_model_saves_and_loads_as_full_weights(tmp_path):
    grown = grow(tiny_model(predict_delta=True), 4, 4).eval()
    grown.save_pretrained(tmp_path / "grown")
    loaded = MORPH.from_pretrained(tmp_path / "grown")
    assert json.loads((tmp_path / "grown" / "config.json").read_text())["grown_from"] == [[3, 3]]
    x = torch.randn(2, 2, 4, 4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), grown(x))


@pytest.mark.parametrize("level", [1, 2])
def test_an_adapter_of_a_grown_model_trains_the_new_parts_and_brings_them_back(tmp_path, level):
    base_dir = save_base(tmp_path / "base")
    base = MORPH.from_pretrained(base_dir)
    model = grow(base, 4, 4)
    apply_level(model, level, rank=2, base=str(base_dir))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if level == 1:  # LoRA plus exactly the grown parts
        assert {n for n in trainable if ".lora_" not in n} == {
            "decoder.linear.parametrizations.weight.0.tail", "decoder.linear.parametrizations.bias.0.tail",
            "embedding.component_proj.parametrizations.weight.0.tail"}
    perturb_trainable(model)
    model.eval()
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "grown_parts.safetensors").is_file() == (level == 1)
    loaded = MORPH.from_pretrained(tmp_path / "adapter")
    x = torch.randn(2, 2, 4, 4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    # the old rows of the decoder are the base's: only the appended ones moved
    start = new_parts(loaded.config)["decoder.linear.weight"][1]
    assert torch.equal(loaded.decoder.linear.weight[:start], base.decoder.linear.weight) == (level == 1)
    assert loaded.decoder.linear.weight[start:].abs().sum() > 0


def test_train_new_parts_leaves_the_old_weights_alone_under_an_optimizer_step():
    model = grow(tiny_model(predict_delta=True), 4, 4).train()
    for p in model.parameters():
        p.requires_grad_(False)
    assert train_new_parts(model) == model.growth.parameters
    before = model.decoder.linear.weight.detach().clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1, weight_decay=0.1)
    x, y = torch.randn(2, 2, 4, 4, 1, 8, 8), torch.randn(2, 4, 4, 1, 8, 8)
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    after = model.decoder.linear.weight.detach()
    start = new_parts(model.config)["decoder.linear.weight"][1]
    assert torch.equal(after[:start], before[:start]) and not torch.equal(after[start:], before[start:])


def test_finetune_grows_the_base_to_the_data_and_says_so(tmp_path, caplog):
    base_dir = save_base(tmp_path / "base")
    data = save_dataset(tmp_path / "wide.zarr", fields=(("p", 1), ("q", 1), ("v", 2), ("stress", 4)))
    config = adapters.FinetuneConfig(checkpoint=str(base_dir), data=str(data), level=1, rank=2,
                                     output_dir=str(tmp_path / "ft"), train={"steps": 3, "batch_size": 2})
    with caplog.at_level(logging.INFO):
        result = adapters.finetune(config, progress=False)
    assert any("grew max_fields 3 -> 4, max_components 3 -> 4: +" in r.getMessage()
               and "trained at every level" in r.getMessage() for r in caplog.records)
    assert (result.checkpoint / "grown_parts.safetensors").is_file()
    record = json.loads((result.output_dir / "finetune.json").read_text())
    assert record["growth"].startswith("grew max_fields 3 -> 4") and record["base_config"]["max_fields"] == 4
    tuned = MORPH.from_pretrained(result.output_dir)
    assert (tuned.config.max_fields, tuned.config.max_components) == (4, 4)


def test_pretraining_from_an_init_checkpoint_grows_it_to_the_data(tmp_path):
    base_dir = save_base(tmp_path / "base")
    data = save_dataset(tmp_path / "wide.zarr", fields=(("p", 1), ("q", 1), ("r", 1), ("s", 1)))
    config = TrainConfig.from_dict(dict(datasets=[{"source": str(data)}], init_checkpoint=str(base_dir),
                                        steps=2, batch_size=2, output_dir=str(tmp_path / "run"),
                                        model={"preset": "Ti", **tiny_config().to_dict()}))
    result = train(config, progress=False)
    model = MORPH.from_pretrained(result.checkpoint)
    assert (model.config.max_fields, model.config.max_components) == (4, 3)
    assert model.config.grown_from == ((3, 3),)
