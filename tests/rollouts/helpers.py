"""Tiny models and data shared by the rollout tests."""

import torch
from torch import nn

from morph import MORPH, MorphConfig


def tiny_config(**overrides) -> MorphConfig:
    values = dict(dim=32, heads=2, depth=1, mlp_dim=64, heads_xa=2, max_ar=3, patch_size=4,
                  dropout=0.0, emb_dropout=0.0, predict_delta=True)
    values.update(overrides)
    return MorphConfig.from_preset("Ti", **values)


def tiny_model(seed: int = 0, **overrides) -> MORPH:
    torch.manual_seed(seed)
    return MORPH(tiny_config(**overrides)).eval()


def persistence_model(**overrides) -> MORPH:
    """A MORPH that predicts "no change": predict_delta with a zero decoder."""
    model = tiny_model(**overrides)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()
    return model


class ScriptedModel(nn.Module):
    """The last (normalised) frame times `factors[call]`, per sample: scripts a divergence.

    factors: one row per call, one factor per sample (NaN gives non-finite output).
    """

    def __init__(self, factors: list[list[float]], **overrides) -> None:
        super().__init__()
        self.config = tiny_config(**overrides)
        self.factors = torch.tensor(factors)
        self.calls = 0
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = self.factors[min(self.calls, len(self.factors) - 1)]
        self.calls += 1
        return x[:, -1] * factor[:, None, None, None, None, None] + self.anchor
