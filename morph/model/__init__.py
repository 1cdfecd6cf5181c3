"""The MORPH model: embedding -> positional table -> axial encoder -> decoder."""

from morph.model.morph import MORPH

__all__ = ["MORPH"]
