"""The one exception type the data layer raises for bad input."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input to the data layer: a missing file, an unknown format, a key
    that is not there, inconsistent shapes, NaN/Inf values, a layout string
    that does not match the array.

    The message always names the file, key or argument and says what would
    fix it.
    """
