"""Tiny models and data shared by the rollout tests."""

import torch
from torch import nn

from morph import MORPH
from tests.conftest import tiny_config
from tests.conftest import tiny_model as shared_tiny_model


def tiny_model(seed: int = 0, **overrides) -> MORPH:
    """The shared tiny MORPH, predicting increments (as the default pretraining does)."""
    return shared_tiny_model(seed, **{"predict_delta": True, **overrides})


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
