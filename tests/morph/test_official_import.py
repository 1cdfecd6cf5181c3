"""Import of the published MORPH weights: exact against an independent padded implementation."""

import dataclasses

import pytest
import torch

from morph.checkpoint import CheckpointError
from morph.config import MorphConfig
from morph.model import MORPH
from morph.checkpoint.official import official_config, import_official, official_to_morph_state
from benchmarks.padded_reference import ReferenceSizes, official_shapes, random_official_state, reference_forward

SMALL = ReferenceSizes(dim=32, heads=2, depth=2, mlp_dim=48, heads_xa=4, max_patches=64, max_ar=3)


def config_of(sizes: ReferenceSizes) -> MorphConfig:
    return MorphConfig(**dataclasses.asdict(sizes), dropout=0.0, emb_dropout=0.0)


def write_published(path, state, wrap=True, prefix="module."):
    state = {prefix + key: value for key, value in state.items()}
    torch.save({"model_state_dict": state, "epoch": 225} if wrap else state, path)
    return path


CASES = [  # (t, F, C, D, H, W): 1D, 2D, 3D; t = 1 and t > 1; multiples of 8 and not
    (1, 2, 1, 1, 1, 64),
    (3, 3, 2, 1, 1, 21),
    (1, 3, 2, 1, 16, 24),
    (2, 1, 3, 1, 12, 10),
    (1, 1, 3, 8, 16, 8),
    (3, 2, 3, 5, 6, 7),
    (2, 1, 1, 1, 1, 160),  # enough tokens that the length-1 axes are folded into one linear
    (1, 2, 1, 1, 32, 40),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "t{}-F{}-C{}-{}x{}x{}".format(*c))
@pytest.mark.parametrize("sizes", [SMALL, dataclasses.replace(SMALL, filters=16, pos_mode="bilinear")],
                         ids=["slice-filters8", "bilinear-filters16"])
def test_imported_weights_give_the_padded_reference_output(tmp_path, case, sizes):
    state = random_official_state(sizes, seed=7)
    model = import_official(write_published(tmp_path / "morph.pth", state), config_of(sizes))
    t, f, c, *grid = case
    x = torch.randn(2, t, f, c, *grid, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, actual = reference_forward(state, x, sizes), model(x)
    assert actual.shape == expected.shape == (2, f, c, *grid)
    assert (actual - expected).abs().max() <= 1e-4


def test_imported_ti_preset_gives_the_padded_reference_output(tmp_path):
    sizes = ReferenceSizes(filters=8, dim=256, heads=4, depth=4, mlp_dim=1024, heads_xa=32,
                           max_patches=4096, max_ar=1)
    state = random_official_state(sizes, seed=11)
    model = import_official(write_published(tmp_path / "morph-Ti.pth", state), "Ti")
    assert model.config == MorphConfig.from_preset("Ti", max_ar=1)
    x = torch.randn(1, 1, 2, 3, 1, 16, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x) - reference_forward(state, x, sizes)).abs().max() <= 1e-4


def test_published_keys_map_one_to_one_onto_ours_for_every_preset():
    for name in ("Ti", "S", "XL"):
        config = MorphConfig.from_preset(name, max_ar=2)
        sizes = ReferenceSizes(filters=config.filters, dim=config.dim, heads=config.heads,
                               depth=config.depth, mlp_dim=config.mlp_dim, max_patches=4096,
                               heads_xa=32, max_ar=2)
        published = {k: torch.empty(s, device="meta") for k, s in official_shapes(sizes).items()}
        with torch.device("meta"):
            ours = MORPH(config).state_dict()
        renamed = official_to_morph_state(published)
        assert {k: v.shape for k, v in renamed.items()} == {k: v.shape for k, v in ours.items()}


def test_plain_state_dicts_without_prefix_are_read_too(tmp_path):
    state = random_official_state(SMALL)
    path = write_published(tmp_path / "plain.pth", state, wrap=False, prefix="")
    model = import_official(path, config_of(SMALL))
    torch.testing.assert_close(model.positional.table, state["pos_encoding.pos_embedding"])


def test_import_writes_a_checkpoint_that_loads_back(tmp_path):
    state = random_official_state(SMALL)
    model = import_official(write_published(tmp_path / "m.pth", state), config_of(SMALL),
                            out_dir=tmp_path / "out", metadata={"note": "test"})
    loaded = MORPH.from_pretrained(tmp_path / "out")
    assert loaded.metadata == {"note": "test", "imported_from": "m.pth"}
    assert loaded.config.predict_delta is False
    x = torch.randn(1, 2, 2, 3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_size_presets_read_history_length_and_position_mode_from_the_file():
    table = lambda ar: {"pos_encoding.pos_embedding": torch.empty(1, ar, 4096, 1024, device="meta")}  # noqa: E731
    assert (official_config("L", table(16), {}).pos_mode, official_config("L", table(16), {}).max_ar) == ("bilinear", 16)
    assert official_config("L", table(1), {}).pos_mode == "slice"
    assert official_config("Ti", table(4), {}).max_ar == 4


def test_a_file_of_another_size_is_refused_naming_the_tensors(tmp_path):
    path = write_published(tmp_path / "small.pth", random_official_state(SMALL))
    with pytest.raises(CheckpointError, match=r"does not fit MORPH-Ti: .*embedding.projection.weight"):
        import_official(path, "Ti")


def test_unknown_keys_such_as_lora_factors_are_refused(tmp_path):
    state = random_official_state(SMALL)
    state["transformer_blocks.0.axial_attn.attn_t.q.A"] = torch.zeros(4, 32)
    with pytest.raises(CheckpointError, match=r"Unknown keys .*attn_t\.q\.A.*merge LoRA"):
        import_official(write_published(tmp_path / "lora.pth", state), config_of(SMALL))


def test_a_file_that_is_not_a_torch_checkpoint_is_refused(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="Cannot read .*junk.pth"):
        import_official(path, "Ti")
    with pytest.raises(CheckpointError, match="No published MORPH checkpoint"):
        import_official(tmp_path / "missing.pth", "Ti")
