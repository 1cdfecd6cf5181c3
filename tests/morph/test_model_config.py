"""MorphConfig: presets, validation, JSON, and parameter counts of the published layout."""

import math

import pytest
import torch

from morph.config import PRESETS, MorphConfig
from morph.model import MORPH
from benchmarks.padded_reference import ReferenceSizes, official_shapes

PUBLISHED_SIZES = {  # filters, dim, heads, depth, mlp_dim
    "Ti": (8, 256, 4, 4, 1024),
    "S": (8, 512, 8, 4, 2048),
    "M": (8, 768, 12, 8, 3072),
    "L": (8, 1024, 16, 16, 4096),
    "XL": (64, 1536, 24, 16, 8192),
}


def _parameter_count(config: MorphConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in MORPH(config).parameters())


@pytest.mark.parametrize("name", list(PUBLISHED_SIZES))
def test_presets_match_the_published_sizes(name):
    config = MorphConfig.from_preset(name)
    assert (config.filters, config.dim, config.heads, config.depth, config.mlp_dim) == PUBLISHED_SIZES[name]
    assert (config.patch_size, config.heads_xa, config.max_fields, config.max_components,
            config.max_patches) == (8, 32, 3, 3, 4096)


def test_the_published_l_checkpoint_has_16_history_slots_and_bilinear_positions():
    config = MorphConfig.from_preset("L")
    assert (config.max_ar, config.pos_mode) == (16, "bilinear")


def test_from_preset_applies_overrides():
    config = MorphConfig.from_preset("Ti", max_ar=4, predict_delta=True)
    assert (config.dim, config.max_ar, config.predict_delta) == (256, 4, True)


def test_unknown_preset_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"Unknown preset 'Tx'; available: Ti, S, M, L, XL"):
        MorphConfig.from_preset("Tx")


@pytest.mark.parametrize("field, value, message", [
    ("dim", 0, "dim must be a positive int, got 0"),
    ("depth", 2.5, "depth must be a positive int, got 2.5"),
    ("filters", 12, "filters must be a multiple of 8"),
    ("heads", 3, r"dim \(256\) must be divisible by heads \(3\)"),
    ("heads_xa", 24, r"dim \(256\) must be divisible by heads_xa \(24\)"),
    ("pos_mode", "cubic", "pos_mode must be one of slice, bilinear; got 'cubic'"),
    ("dropout", 1.5, r"dropout must be a float in \[0, 1\), got 1.5"),
    ("predict_delta", "yes", "predict_delta must be a bool, got 'yes'"),
])
def test_invalid_field_is_refused_naming_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        MorphConfig(**{field: value})


def test_config_survives_a_json_round_trip():
    import json

    config = MorphConfig.from_preset("S", max_ar=3, pos_mode="bilinear", activation_checkpointing=True)
    assert MorphConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_unknown_field_in_a_dict_is_refused_by_name():
    with pytest.raises(ValueError, match="Unknown MorphConfig field.*widht"):
        MorphConfig.from_dict({"widht": 3})


def test_ti_with_one_history_slot_has_9_864_408_parameters():
    assert _parameter_count(MorphConfig.from_preset("Ti", max_ar=1)) == 9_864_408


def test_each_history_slot_adds_one_positional_table_row_block():
    extra = _parameter_count(MorphConfig.from_preset("Ti", max_ar=3)) - 9_864_408
    assert extra == 2 * 4096 * 256


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_count_equals_the_published_layout(name):
    config = MorphConfig.from_preset(name, max_ar=1, pos_mode="slice")
    sizes = ReferenceSizes(filters=config.filters, dim=config.dim, heads=config.heads,
                           depth=config.depth, mlp_dim=config.mlp_dim, max_patches=4096,
                           heads_xa=32, max_ar=1)
    published = sum(math.prod(shape) for shape in official_shapes(sizes).values())
    assert _parameter_count(config) == published
