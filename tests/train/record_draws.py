"""Launched by tests/train/test_distributed.py under `accelerate launch` (2 processes): trains tiny
run whose model records what each training forward reads, and writes per process
`OUT/draws-<process>.json`: per step the patch-grid shift and a fingerprint of each input sample.

Usage: record_draws.py OUT CACHE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from morph import MORPH, MorphConfig
from morph.train import TrainConfig, train
from morph.train.loop import process_state

MODEL = dict(dim=32, heads=2, depth=1, mlp_dim=48, heads_xa=2, patch_size=4, max_patches=64, max_ar=2,
             dropout=0.0, emb_dropout=0.0)


class RecordingMORPH(MORPH):
    """MORPH that notes, at each training forward, its shift and the sum of its input per sample."""

    def __init__(self, config: MorphConfig) -> None:
        super().__init__(config)
        self.seen: list[dict] = []

    def forward(self, x: torch.Tensor, *args, shift=None, **kwargs) -> torch.Tensor:
        if self.training:
            flat = x.detach().double().flatten(1)  # (B, t*F*C*D*H*W), normalised: weigh each entry apart
            weights = torch.linspace(1, 2, flat.shape[1], dtype=torch.float64)
            self.seen.append({"shift": list(shift) if shift is not None else None,
                              "x": [round(float(v), 6) for v in (flat * weights).sum(1)]})
        return super().forward(x, *args, shift=shift, **kwargs)


def record(name: str, out: Path, cache: Path, **overrides) -> None:
    models: list[RecordingMORPH] = []

    def factory() -> RecordingMORPH:
        models.append(RecordingMORPH(MorphConfig.from_preset("Ti", **MODEL)))
        return models[-1]

    config = TrainConfig(**{**dict(model={"preset": "Ti", **MODEL}, history=2, batch_size=2, steps=4,
                                   warmup_steps=1, checkpoint_every=100, val_windows=2, mixed_precision="no",
                                   output_dir=str(out / name), cache_dir=str(cache)), **overrides})
    train(config, progress=False, model_factory=factory)
    index = process_state().process_index
    (out / f"{name}-{index}.json").write_text(json.dumps(models[0].seen))


if __name__ == "__main__":
    out, cache = Path(sys.argv[1]), Path(sys.argv[2])
    # one training window (3 frames, history 2, one trajectory): every batch is the same, so what
    # differs between processes is what they draw (noise, patch-grid shifts)
    one_window = [dict(source="burgers_1d", n_traj=4, steps=3, resolution=16, max_train_traj=1)]
    record("draws", out, cache, datasets=one_window, noise=0.05, patch_jitter=3, steps=6)
