"""The error of everything that reads or writes checkpoints (its own module, so that the modules
resolving checkpoint names, local and on the Hub, share it without importing each other)."""

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint directory or file that cannot be read as a model."""
