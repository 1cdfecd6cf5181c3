"""Import the published MORPH weights (lanl/MORPH `.pth` files) into a `MORPH` model.

A published checkpoint is a torch file holding a dict with `model_state_dict`
(keys may carry a `module.` prefix from DataParallel). It is read with
`torch.load(..., weights_only=True)`: no arbitrary objects are unpickled.
The key layout (Ti shown, `{i}` a block) maps onto ours as follows:

    patch_embedding.conv_features.input_proj      -> embedding.component_proj
    patch_embedding.conv_features.conv_stack.{2j} -> embedding.convs.{j}
    patch_embedding.projection                    -> embedding.projection
    patch_embedding.field_attn.q                  -> embedding.field_attention.query
    patch_embedding.field_attn.attn.in_proj_*     -> embedding.field_attention.in_proj_*
    patch_embedding.field_attn.attn.out_proj      -> embedding.field_attention.out_proj
    pos_encoding.pos_embedding                    -> positional.table
    transformer_blocks.{i}.norm1 / norm2          -> encoder.blocks.{i}.attn_norm / mlp_norm
    transformer_blocks.{i}.axial_attn.attn_{t,d,h,w}.{q,k,v,o}.base
                                -> encoder.blocks.{i}.attention.{time,depth,height,width}.{q,k,v,o}
    transformer_blocks.{i}.mlp.{0,3}.base         -> encoder.blocks.{i}.mlp.{fc1,fc2}
    decoder.norm / decoder.linear                 -> decoder.norm / decoder.linear

Imported models predict the frame itself (predict_delta False). The published
model needs grids that are multiples of the patch size; ours also pads others.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional, Union

import torch

from morph.checkpoint.files import CheckpointError
from morph.config import PRESETS, MorphConfig
from morph.model.morph import MORPH

__all__ = ["OFFICIAL_FILES", "OFFICIAL_HUB_FOLDER", "OFFICIAL_HUB_REPO", "import_official", "load_official_state",
           "official_config", "official_to_morph_state"]

logger = logging.getLogger(__name__)

#: Where the MORPH authors publish their weights on the Hugging Face Hub, and the file of each size
#: (as their repository names them; `morph import-official --hub` fetches one).
OFFICIAL_HUB_REPO = "mahindrautela/MORPH"
OFFICIAL_HUB_FOLDER = "models/FM"
OFFICIAL_FILES = {
    "Ti": "morph-Ti-FM-max_ar1_ep225.pth",
    "S": "morph-S-FM-max_ar1_ep225.pth",
    "M": "morph-M-FM-max_ar1_ep290_latestbatch.pth",
    "L": "morph-L-FM-max_ar16_ep189_latestbatch.pth",
}

_AXES = {"t": "time", "d": "depth", "h": "height", "w": "width"}
_RENAMES: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"^patch_embedding\.conv_features\.input_proj\.(.+)$"),
     lambda m: f"embedding.component_proj.{m[1]}"),
    (re.compile(r"^patch_embedding\.conv_features\.conv_stack\.(\d+)\.(.+)$"),
     lambda m: f"embedding.convs.{int(m[1]) // 2}.{m[2]}" if int(m[1]) % 2 == 0 else None),
    (re.compile(r"^patch_embedding\.projection\.(.+)$"), lambda m: f"embedding.projection.{m[1]}"),
    (re.compile(r"^patch_embedding\.field_attn\.q$"), lambda m: "embedding.field_attention.query"),
    (re.compile(r"^patch_embedding\.field_attn\.attn\.(in_proj_weight|in_proj_bias)$"),
     lambda m: f"embedding.field_attention.{m[1]}"),
    (re.compile(r"^patch_embedding\.field_attn\.attn\.out_proj\.(.+)$"),
     lambda m: f"embedding.field_attention.out_proj.{m[1]}"),
    (re.compile(r"^pos_encoding\.pos_embedding$"), lambda m: "positional.table"),
    (re.compile(r"^transformer_blocks\.(\d+)\.norm1\.(.+)$"),
     lambda m: f"encoder.blocks.{m[1]}.attn_norm.{m[2]}"),
    (re.compile(r"^transformer_blocks\.(\d+)\.norm2\.(.+)$"),
     lambda m: f"encoder.blocks.{m[1]}.mlp_norm.{m[2]}"),
    (re.compile(r"^transformer_blocks\.(\d+)\.axial_attn\.attn_([tdhw])\.([qkvo])\.base\.(.+)$"),
     lambda m: f"encoder.blocks.{m[1]}.attention.{_AXES[m[2]]}.{m[3]}.{m[4]}"),
    (re.compile(r"^transformer_blocks\.(\d+)\.mlp\.([03])\.base\.(.+)$"),
     lambda m: f"encoder.blocks.{m[1]}.mlp.{'fc1' if m[2] == '0' else 'fc2'}.{m[3]}"),
    (re.compile(r"^decoder\.(norm|linear)\.(.+)$"), lambda m: f"decoder.{m[1]}.{m[2]}"),
]
_PREFIXES = ("module.", "_orig_mod.")


def load_official_state(ckpt_path: Union[str, Path]) -> dict[str, torch.Tensor]:
    """The state dict inside a published checkpoint, prefixes (`module.`) stripped, on CPU."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise CheckpointError(f"No published MORPH checkpoint at {path}; pass the .pth file "
                              f"downloaded from the MORPH release")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for unreadable or unsafe files
        raise CheckpointError(f"Cannot read {path} as a torch checkpoint with weights_only=True "
                              f"({type(error).__name__}: {error}); is it a published MORPH "
                              f".pth file?") from error
    if isinstance(content, dict) and "model_state_dict" in content:
        content = content["model_state_dict"]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise CheckpointError(f"{path} holds no state dict (expected a dict with "
                              f"'model_state_dict', or a dict of tensors)")
    state = {}
    for key, tensor in content.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        state[key] = tensor
    return state


def official_to_morph_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a published state dict to our keys; unknown keys (e.g. LoRA A/B) are refused."""
    renamed, unknown = {}, []
    for key, tensor in state.items():
        for pattern, rename in _RENAMES:
            match = pattern.match(key)
            if match and (new_key := rename(match)) is not None:
                renamed[new_key] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"Unknown keys in the published checkpoint: {', '.join(unknown[:8])}"
                              f"{' ...' if len(unknown) > 8 else ''}. Only the base MORPH layout is "
                              f"supported (merge LoRA weights into the base layers first)")
    return renamed


def official_config(size: Union[str, MorphConfig], state: dict[str, torch.Tensor],
                    overrides: Optional[dict[str, Any]] = None) -> MorphConfig:
    """The config of a published model: the preset, with max_ar (and so pos_mode) read from it."""
    overrides = overrides or {}
    if isinstance(size, MorphConfig):
        return MorphConfig.from_dict({**size.to_dict(), **overrides})
    if size not in PRESETS:
        raise ValueError(f"Unknown MORPH size {size!r}; available: {', '.join(PRESETS)}")
    table = state.get("pos_encoding.pos_embedding")
    if table is None or table.ndim != 4:
        raise CheckpointError("The published checkpoint has no pos_encoding.pos_embedding "
                              "(1, max_ar, max_patches, dim) tensor; is it a MORPH model?")
    _, max_ar, max_patches, _ = table.shape
    # The published code uses the bilinear table only for L with max_ar > 1.
    pos_mode = "bilinear" if size == "L" and max_ar > 1 else "slice"
    values = {**PRESETS[size], "max_ar": max_ar, "max_patches": max_patches, "pos_mode": pos_mode,
              "predict_delta": False, **overrides}
    return MorphConfig.from_dict(values)


def import_official(ckpt_path: Union[str, Path], size: Union[str, MorphConfig],
                    out_dir: Optional[Union[str, Path]] = None,
                    metadata: Optional[dict[str, Any]] = None, **overrides: Any) -> MORPH:
    """Convert a published MORPH checkpoint into a `MORPH` model, and save it if `out_dir`.

    ckpt_path: the published `.pth` file.
    size: "Ti", "S", "M", "L" or "XL" (max_ar and max_patches are read from the
        file), or a full MorphConfig for a custom layout.
    out_dir: where to write the model with save_pretrained; nothing written if None.
    metadata: extra JSON saved with it (the source file name is always recorded).
    overrides: MorphConfig fields to change (e.g. dropout=0.0).
    Raises CheckpointError naming the tensors when the file does not fit `size`.
    """
    official = load_official_state(ckpt_path)
    config = official_config(size, official, overrides)
    state = official_to_morph_state(official)
    model = MORPH(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    extra = sorted(set(state) - set(expected))
    if missing or wrong or extra:
        label = size if isinstance(size, str) else "the given config"
        raise CheckpointError(
            f"{ckpt_path} does not fit MORPH-{label}: missing {missing[:5]}, "
            f"unexpected {extra[:5]}, wrong shapes {wrong[:5]}. Pass the --size the file was "
            f"trained with (Ti, S, M, L, XL)")
    model.load_state_dict(state)
    model.metadata = {**(metadata or {}), "imported_from": Path(ckpt_path).name}
    model.eval()
    if out_dir is not None:
        model.save_pretrained(out_dir)
        logger.info("imported %s as MORPH-%s into %s", ckpt_path,
                    size if isinstance(size, str) else "custom", out_dir)
    return model
