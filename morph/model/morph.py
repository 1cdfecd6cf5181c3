"""MORPH: `x (B, t, F, C, D, H, W)` history -> next frame `(B, F, C, D, H, W)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from morph.checkpoint.architectures import register_architecture
from morph.checkpoint.files import CheckpointError
from morph.checkpoint.pretrained import load_pretrained, save_pretrained
from morph.config import MorphConfig
from morph.model.boundaries import BoundaryEmbedding, pad_axis, pad_modes, shift_grid, unshift_grid
from morph.model.decoder import Decoder
from morph.model.embedding import PatchEmbedding
from morph.model.encoder import Encoder
from morph.model.positional import PositionalTable
from morph.model.refine import RefineHead

__all__ = ["MORPH", "increment_scale"]


def increment_scale(x: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """RMS frame-to-frame increment of a history, per sample and field.

    `x (B, t, F, C, D, H, W) -> (B, F)`: sqrt(mean over steps and space of
    sum_c (x[s] - x[s-1])^2), the components of a vector taken together; ones
    when t = 1. Floored at `floor` times the RMS of the last frame (plus a tiny
    constant) so a frozen history does not freeze the prediction.
    """
    if x.shape[1] < 2:
        return x.new_ones(x.shape[0], x.shape[2])
    steps = (x[:, 1:] - x[:, :-1]).float()
    scale = steps.pow(2).sum(3).mean(dim=(1, 3, 4, 5)).sqrt()
    size = x[:, -1].float().pow(2).sum(2).mean(dim=(2, 3, 4)).sqrt()
    return torch.maximum(scale, floor * size + 1e-12).to(x.dtype)


class MORPH(nn.Module):
    """The MORPH PDE foundation model (arXiv 2509.21670), layout "b t f c d h w".

    1D data lives in W (D = H = 1), 2D in (H, W) (D = 1), 3D in (D, H, W).
    Each axis longer than 1 is cut into patches of `config.patch_size`; a grid
    that is not a multiple of it is zero-padded at the high end and the padding
    cropped from the output. Missing components must be zero in x.
    """

    config_class = MorphConfig

    def __init__(self, config: MorphConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata: dict[str, Any] = {}
        # Where from_pretrained loaded it from ("starter" or an absolute path); None for a new model.
        self.source: Optional[str] = None
        self.embedding = PatchEmbedding(config)
        self.positional = PositionalTable(config.max_ar, config.max_patches, config.dim,
                                          config.pos_mode)
        self.boundary_embedding = BoundaryEmbedding(config.dim) if config.boundary_embedding else None
        self.token_dropout = nn.Dropout(config.emb_dropout)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config.dim, [*config.grown_from, (config.max_fields, config.max_components)],
                               config.max_patch_volume)
        self.refine = RefineHead(config.refine_channels) if config.refine_channels else None

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 7:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"MORPH input x must be (B, t, F, C, D, H, W) (7 dims), got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"MORPH input x must be a floating-point tensor, got {x.dtype}")
        if min(x.shape) < 1:
            raise ValueError(f"MORPH input x has an empty axis: shape {tuple(x.shape)}")
        self.config.check_fits(tuple(x.shape), where=f"MORPH input of shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, boundaries: Optional[Sequence[str]] = None,
                shift: Optional[Sequence[int]] = None, return_tokens: bool = False
                ) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """`x (B, t, F, C, D, H, W)` -> next frame `(B, F, C, D, H, W)`.

        boundaries: the boundary condition of each canonical axis (D, H, W), as
            `pde_data.Batch.boundaries`; used when the config switches on boundary padding or
            the boundary embedding (None: unknown everywhere).
        shift: move the patch grid by this many cells per axis (D, H, W) and back (patch
            jittering; wrapped on periodic axes with boundary padding, padded elsewhere).
        With return_tokens, also the encoder output `(B, t, n, dim)`, n = nD * nH * nW.
        """
        self._check_input(x)
        cfg = self.config
        modes = pad_modes(boundaries, cfg.boundary_padding, cfg.wall_padding)
        if shift is not None:  # no shift along axes the data does not have (length 1)
            shift = tuple(0 if size == 1 else int(s) for s, size in zip(shift, x.shape[-3:]))
        shift = shift if shift is not None and any(shift) else None
        core = shift_grid(x, shift, modes) if shift else x
        b, t, fields, components, *spatial = core.shape
        patch = cfg.patch_shape(spatial)
        grid = tuple(-(-size // p) for size, p in zip(spatial, patch))  # (nD, nH, nW)
        grid_padding = tuple(g * p - size for g, p, size in zip(grid, patch, spatial))
        if all(mode == "constant" for mode in modes):  # the published model: zeros, then convolutions
            padded = core
            for axis, amount in enumerate(grid_padding):
                padded = pad_axis(padded, 4 + axis, 0, amount, "constant")  # (B, t, F, C, Dp, Hp, Wp)
            tokens = self.embedding(padded, patch)  # (B, t, n, dim)
        else:  # convolutions wrap around the real grid; their features are padded to whole patches
            tokens = self.embedding(core, patch, modes, grid_padding)
        n = tokens.shape[2]
        tokens = tokens + self.positional(t, n).to(tokens.dtype)
        if self.boundary_embedding is not None:
            tokens = tokens + self.boundary_embedding(boundaries).to(tokens.dtype)
        tokens = self.encoder(self.token_dropout(tokens).unflatten(2, grid))  # (B, t, nD, nH, nW, dim)
        frame = self.decoder(tokens[:, -1], fields, components, patch)  # (B, F, C, Dp, Hp, Wp)
        d, h, w = spatial
        frame = frame[..., :d, :h, :w]
        if shift:
            frame = unshift_grid(frame, shift, modes)
        if self.refine is not None:
            frame = self.refine(frame, x[:, -1], modes)
        if self.config.predict_delta:
            if self.config.delta_scale:
                frame = frame * increment_scale(x)[:, :, None, None, None, None]
            frame = x[:, -1] + frame
        if return_tokens:
            return frame, tokens.flatten(2, 4)
        return frame

    def save_pretrained(self, directory: Union[str, Path],
                        metadata: Optional[dict[str, Any]] = None, **hub: Any) -> Path:
        """Write `config.json` + `model.safetensors` (+ `metadata.json`) atomically (the adapter
        alone when the model carries one); `push_to_hub="org/name"` uploads them to the Hugging
        Face Hub too (with `private`, `commit_message`, `token`): see `morph.checkpoint.save_pretrained`."""
        return save_pretrained(self, directory, metadata, **hub)

    @classmethod
    def from_pretrained(cls, directory: Union[str, Path], **overrides: Any) -> "MORPH":
        """Load a `save_pretrained` directory, a run directory, "starter" or a Hugging Face Hub id
        (`org/name[@revision][/subfolder]`) on CPU, in eval mode; see `morph.checkpoint.load_pretrained`."""
        model = load_pretrained(directory, **overrides)
        if not isinstance(model, cls):
            raise CheckpointError(f"{directory} holds a {type(model).__name__}, not a {cls.__name__}; "
                                  f"load it with morph.checkpoint.load_pretrained")
        return model


register_architecture("morph", MORPH)
