"""Encoder: depth x (pre-LayerNorm axial attention, pre-LayerNorm MLP), on `(B, t, D, H, W, dim)`."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from morph.config import MorphConfig
from morph.model.axial import AxialAttention

__all__ = ["Encoder", "EncoderBlock", "MLP"]


class MLP(nn.Module):
    """dim -> mlp_dim -> dim with GELU; linears named fc1, fc2 (peft targets)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(nn.functional.gelu(self.fc1(x)))))


class EncoderBlock(nn.Module):
    """x + axial(norm(x)), then x + mlp(norm(x)); shapes `(B, t, D, H, W, dim)`.

    As in the published model, the axial attention adds its own input back,
    so the first residual is x + norm(x) + attentions.
    """

    def __init__(self, config: MorphConfig) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.dim)
        self.attention = AxialAttention(config.dim, config.heads, config.dropout)
        self.mlp_norm = nn.LayerNorm(config.dim)
        self.mlp = MLP(config.dim, config.mlp_dim, config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class Encoder(nn.Module):
    """`(B, t, D, H, W, dim) -> (B, t, D, H, W, dim)`; optional activation checkpointing per block."""

    def __init__(self, config: MorphConfig) -> None:
        super().__init__()
        self.activation_checkpointing = config.activation_checkpointing
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.activation_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x
