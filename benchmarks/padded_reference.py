"""A straightforward MORPH, written from the paper's description, on the published key layout.

Independent of `morph.model`: every volume is 3D and zero-padded (grid to a
multiple of the patch, components to max_components, patch features to
filters * p**3), convolutions are full 3x3x3 `F.conv3d`, attention is an explicit
softmax over every axis (length 1 included), and the decoder runs on every
time slot. The tests compare the fast model with it; the throughput benchmark
uses it as the baseline (`benchmarks/model_throughput.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ReferenceSizes", "official_shapes", "random_official_state", "reference_forward"]


@dataclass(frozen=True)
class ReferenceSizes:
    filters: int = 8
    dim: int = 32
    heads: int = 2
    depth: int = 2
    mlp_dim: int = 48
    patch_size: int = 8
    max_fields: int = 3
    max_components: int = 3
    max_patches: int = 64
    max_ar: int = 1
    heads_xa: int = 4
    pos_mode: str = "slice"


def official_shapes(s: ReferenceSizes) -> dict[str, tuple[int, ...]]:
    """Every tensor of the published layout (lanl/MORPH ViT3DRegression) and its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    pe = "patch_embedding."
    shapes[pe + "conv_features.input_proj.weight"] = (8, s.max_components, 1, 1, 1)
    width, index = 8, 0
    while width < s.filters:
        wider = min(2 * width, s.filters)
        shapes[pe + f"conv_features.conv_stack.{index}.weight"] = (wider, width, 3, 3, 3)
        width, index = wider, index + 2
    shapes[pe + f"conv_features.conv_stack.{index}.weight"] = (s.filters, width, 3, 3, 3)
    shapes[pe + "projection.weight"] = (s.dim, s.filters * s.patch_size ** 3)
    shapes[pe + "projection.bias"] = (s.dim,)
    shapes[pe + "field_attn.q"] = (1, 1, s.dim)
    shapes[pe + "field_attn.attn.in_proj_weight"] = (3 * s.dim, s.dim)
    shapes[pe + "field_attn.attn.in_proj_bias"] = (3 * s.dim,)
    shapes[pe + "field_attn.attn.out_proj.weight"] = (s.dim, s.dim)
    shapes[pe + "field_attn.attn.out_proj.bias"] = (s.dim,)
    shapes["pos_encoding.pos_embedding"] = (1, s.max_ar, s.max_patches, s.dim)
    for i in range(s.depth):
        block = f"transformer_blocks.{i}."
        for norm in ("norm1", "norm2"):
            shapes[block + f"{norm}.weight"] = shapes[block + f"{norm}.bias"] = (s.dim,)
        for axis in "tdhw":
            for proj in "qkvo":
                shapes[block + f"axial_attn.attn_{axis}.{proj}.base.weight"] = (s.dim, s.dim)
                shapes[block + f"axial_attn.attn_{axis}.{proj}.base.bias"] = (s.dim,)
        shapes[block + "mlp.0.base.weight"] = (s.mlp_dim, s.dim)
        shapes[block + "mlp.0.base.bias"] = (s.mlp_dim,)
        shapes[block + "mlp.3.base.weight"] = (s.dim, s.mlp_dim)
        shapes[block + "mlp.3.base.bias"] = (s.dim,)
    shapes["decoder.norm.weight"] = shapes["decoder.norm.bias"] = (s.dim,)
    out = s.max_fields * s.max_components * s.patch_size ** 3
    shapes["decoder.linear.weight"] = (out, s.dim)
    shapes["decoder.linear.bias"] = (out,)
    return shapes


def random_official_state(s: ReferenceSizes, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the published layout, scaled so activations stay O(1)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_shapes(s).items():
        noise = torch.randn(shape, generator=generator)
        if key.endswith("norm1.weight") or key.endswith("norm2.weight") or key == "decoder.norm.weight":
            state[key] = 1 + 0.1 * noise
        elif key.endswith("bias"):
            state[key] = 0.1 * noise
        elif key.endswith("pos_embedding") or key.endswith("field_attn.q"):
            state[key] = 0.5 * noise
        else:
            fan_in = math.prod(shape[1:])
            state[key] = noise / math.sqrt(fan_in)
    return state


def _linear_resample(rows: torch.Tensor, n: int) -> torch.Tensor:
    """`(..., P) -> (..., n)` linear interpolation, half-pixel centres (align_corners=False).

    Source positions are computed in the table's dtype, as torch's (and so the
    published model's) `F.interpolate` does: with 4096 rows, fp32 positions
    move the result by ~1e-4.
    """
    size = rows.shape[-1]
    scale = torch.tensor(size / n, dtype=rows.dtype, device=rows.device)
    source = (scale * (torch.arange(n, dtype=rows.dtype, device=rows.device) + 0.5) - 0.5).clamp(min=0)
    left = source.floor().long().clamp(max=size - 1)
    right = (left + 1).clamp(max=size - 1)
    frac = source - left
    return rows[..., left] * (1 - frac) + rows[..., right] * frac


def _attention(x: torch.Tensor, p: dict[str, torch.Tensor], name: str, heads: int) -> torch.Tensor:
    """Explicit multi-head self-attention over the middle axis of `(M, L, dim)`."""
    m, length, dim = x.shape
    hd = dim // heads
    project = lambda proj, h: h @ p[f"{name}.{proj}.base.weight"].T + p[f"{name}.{proj}.base.bias"]  # noqa: E731
    q, k, v = (project(proj, x).reshape(m, length, heads, hd).transpose(1, 2) for proj in "qkv")
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    out = (weights @ v).transpose(1, 2).reshape(m, length, dim)
    return project("o", out)


def _along(x: torch.Tensor, axis: int, fn) -> torch.Tensor:
    """Apply fn `(M, L, dim) -> (M, L, dim)` along `axis` of `(B, t, D, H, W, dim)`."""
    moved = x.movedim(axis, -2)
    out = fn(moved.reshape(-1, moved.shape[-2], moved.shape[-1]))
    return out.reshape(moved.shape).movedim(-2, axis)


def reference_forward(p: dict[str, torch.Tensor], x: torch.Tensor, s: ReferenceSizes) -> torch.Tensor:
    """`x (B, t, F, C, D, H, W)` -> next frame `(B, F, C, D, H, W)` with published weights `p`."""
    b, t, nf, nc, d, h, w = x.shape
    ps = s.patch_size
    patch = [1 if size == 1 else ps for size in (d, h, w)]
    grid = [-(-size // q) for size, q in zip((d, h, w), patch)]
    padded = [g * q for g, q in zip(grid, patch)]
    x_pad = torch.zeros(b, t, nf, s.max_components, *padded, dtype=x.dtype, device=x.device)
    x_pad[:, :, :, :nc, :d, :h, :w] = x

    # 1) convolutions, all 3D
    v = x_pad.reshape(b * t * nf, s.max_components, *padded)
    v = F.conv3d(v, p["patch_embedding.conv_features.input_proj.weight"])
    stack = sorted((int(k.split(".")[3]), k) for k in p if ".conv_stack." in k)
    for _, key in stack:
        v = F.leaky_relu(F.conv3d(v, p[key], padding=1), 0.2)

    # 2-3) patches, features (filters, pD, pH, pW) zero-padded to filters * p**3, projection
    gd, gh, gw = grid
    pd, ph, pw = patch
    v = v.reshape(b * t * nf, s.filters, gd, pd, gh, ph, gw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
    feats = v.reshape(b * t * nf, gd * gh * gw, s.filters * pd * ph * pw)
    full = torch.zeros(*feats.shape[:2], s.filters * ps ** 3, dtype=x.dtype, device=x.device)
    full[..., :feats.shape[-1]] = feats
    tok = full @ p["patch_embedding.projection.weight"].T + p["patch_embedding.projection.bias"]
    n = gd * gh * gw
    tok = tok.reshape(b * t, nf, n, s.dim).permute(0, 2, 1, 3).reshape(b * t * n, nf, s.dim)

    # 4) field cross-attention, learned query, explicit softmax
    wq, wk, wv = p["patch_embedding.field_attn.attn.in_proj_weight"].chunk(3)
    bq, bk, bv = p["patch_embedding.field_attn.attn.in_proj_bias"].chunk(3)
    hx, hdx = s.heads_xa, s.dim // s.heads_xa
    q = (p["patch_embedding.field_attn.q"].reshape(1, s.dim) @ wq.T + bq).reshape(hx, 1, hdx)
    k = (tok @ wk.T + bk).reshape(-1, nf, hx, hdx).transpose(1, 2)  # (N, hx, F, hd)
    val = (tok @ wv.T + bv).reshape(-1, nf, hx, hdx).transpose(1, 2)
    scores = (q.unsqueeze(0) @ k.transpose(-1, -2)) / math.sqrt(hdx)  # (N, hx, 1, F)
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    fused = (weights @ val).reshape(-1, s.dim)
    fused = fused @ p["patch_embedding.field_attn.attn.out_proj.weight"].T \
        + p["patch_embedding.field_attn.attn.out_proj.bias"]
    tok = fused.reshape(b, t, n, s.dim)

    # 5) positional table
    table = p["pos_encoding.pos_embedding"]
    if s.pos_mode == "slice":
        pe = _linear_resample(table[0, :t].transpose(1, 2), n).transpose(1, 2)  # (t, n, dim)
    elif s.pos_mode == "bilinear":
        pe = F.interpolate(table.permute(0, 3, 1, 2), size=(t, n), mode="bilinear",
                           align_corners=False, antialias=True)[0].permute(1, 2, 0)
    else:
        raise ValueError(s.pos_mode)
    tok = tok + pe

    # 6) encoder blocks on the grid (B, t, D, H, W, dim)
    xg = tok.reshape(b, t, gd, gh, gw, s.dim)
    for i in range(s.depth):
        blk = f"transformer_blocks.{i}."
        normed = F.layer_norm(xg, (s.dim,), p[blk + "norm1.weight"], p[blk + "norm1.bias"])
        if t > 1:
            normed = normed + _along(normed, 1, lambda m: _attention(m, p, blk + "axial_attn.attn_t", s.heads))
        attn = normed
        for axis, letter in ((2, "d"), (3, "h"), (4, "w")):
            attn = attn + _along(normed, axis,
                                 lambda m, a=letter: _attention(m, p, blk + f"axial_attn.attn_{a}", s.heads))
        xg = xg + attn
        normed = F.layer_norm(xg, (s.dim,), p[blk + "norm2.weight"], p[blk + "norm2.bias"])
        hidden = F.gelu(normed @ p[blk + "mlp.0.base.weight"].T + p[blk + "mlp.0.base.bias"])
        xg = xg + hidden @ p[blk + "mlp.3.base.weight"].T + p[blk + "mlp.3.base.bias"]

    # 7) decoder on every slot, keep the last, leading F * C * patch_volume outputs
    out = F.layer_norm(xg, (s.dim,), p["decoder.norm.weight"], p["decoder.norm.bias"])
    out = out @ p["decoder.linear.weight"].T + p["decoder.linear.bias"]
    out = out[:, -1, ..., :nf * nc * pd * ph * pw]
    out = out.reshape(b, gd, gh, gw, nf, nc, pd, ph, pw).permute(0, 4, 5, 1, 6, 2, 7, 3, 8)
    out = out.reshape(b, nf, nc, gd * pd, gh * ph, gw * pw)
    return out[..., :d, :h, :w]
