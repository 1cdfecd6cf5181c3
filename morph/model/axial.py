"""Axial attention over the token grid `(B, t, D, H, W, dim)`: one axis at a time.

Each axis is moved next to the channels and the others folded into the batch,
`(B, t, D, H, W, dim) -> (M, L, dim)`, so scaled_dot_product_attention always
sees 4D `(M, heads, L, head_dim)` tensors (which torch.compile handles well).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AxisAttention", "AxialAttention", "attention"]


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """Softmax attention `(M, heads, L, hd) x3 -> (M, heads, L, hd)`.

    scaled_dot_product_attention, except for bfloat16 on the CPU: torch's CPU flash kernel runs
    bfloat16 about 3x slower than float32 (its backward most), so there the scores are two
    batched bfloat16 matmuls around a float32 softmax, which is 4x faster than the float32
    kernel on the short axes MORPH attends along (docs/benchmarks/bf16-compile.md).
    """
    if q.dtype != torch.bfloat16 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)  # (M, heads, L, L)
    weights = scores.float().softmax(dim=-1).to(v.dtype)
    if dropout:
        weights = F.dropout(weights, dropout)
    return weights @ v


class AxisAttention(nn.Module):
    """Multi-head self-attention along one axis of `(B, t, D, H, W, dim)`; the others are batch.

    Plain `nn.Linear` projections named q, k, v, o (peft targets them by name);
    scaled_dot_product_attention does the rest. Along an axis of length 1 the
    attention is the identity on the values, so the result is o(v(x)) and q, k
    are not computed.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        length, dim = x.shape[axis], x.shape[-1]
        if length == 1:
            return self.o(self.v(x))
        moved = x.movedim(axis, -2)  # (B, ...others, L, dim)
        lines = moved.reshape(-1, length, dim)  # (M, L, dim); a copy unless axis is the last one

        def split_heads(h: torch.Tensor) -> torch.Tensor:
            return h.unflatten(-1, (self.heads, dim // self.heads)).transpose(1, 2)  # (M, heads, L, hd)

        attended = attention(split_heads(self.q(lines)), split_heads(self.k(lines)), split_heads(self.v(lines)),
                             dropout=self.dropout if self.training else 0.0)
        out = self.o(attended.transpose(1, 2).flatten(-2))  # (M, L, dim)
        return out.view(moved.shape).movedim(-2, axis)  # (B, t, D, H, W, dim)


class AxialAttention(nn.Module):
    """`(B, t, D, H, W, dim) -> (B, t, D, H, W, dim)`, the MORPH axial order.

    If t > 1: x = x + a_time(x). Then x + a_depth(x) + a_height(x) + a_width(x),
    each spatial attention reading the same x.

    On the axes of length 1 each attention is o(v(x)), a linear map; when there
    are more tokens than it costs, their maps are summed into one weight
    (sum of W_o W_v) and applied once. That is done only for plain nn.Linear
    layers, so layers wrapped by peft (LoRA) are always called as modules.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.time = AxisAttention(dim, heads, dropout)
        self.depth = AxisAttention(dim, heads, dropout)
        self.height = AxisAttention(dim, heads, dropout)
        self.width = AxisAttention(dim, heads, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > 1:
            x = x + self.time(x, axis=1)
        spatial = ((2, self.depth), (3, self.height), (4, self.width))
        flat = [attention for axis, attention in spatial if x.shape[axis] == 1]
        dim, tokens = x.shape[-1], x.numel() // x.shape[-1]
        fold = (len(flat) > 0 and all(type(a.v) is nn.Linear and type(a.o) is nn.Linear for a in flat)
                and len(flat) * dim < (2 * len(flat) - 1) * tokens)
        out = x
        for axis, attention in spatial:
            if not (fold and x.shape[axis] == 1):
                out = out + attention(x, axis)
        if fold:
            weight = sum(a.o.weight @ a.v.weight for a in flat)
            bias = sum(F.linear(a.v.bias.unsqueeze(0), a.o.weight, a.o.bias) for a in flat)[0]
            out = out + F.linear(x, weight, bias)
        return out
