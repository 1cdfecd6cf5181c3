"""The one exception type the data layer raises for bad input, and where users read about layouts."""

from __future__ import annotations

__all__ = ["FORMATS_PAGE", "DataError"]

#: The page that documents every reader's layout, options and assumptions; named by every error that
#: says a file was not understood, and by the `--help` of the commands that read data.
FORMATS_PAGE = "docs/formats.md"


class DataError(ValueError):
    """Bad input to the data layer: a missing file, an unknown format, a key
    that is not there, inconsistent shapes, NaN/Inf values, a layout string
    that does not match the array.

    The message always names the file, key or argument and says what would
    fix it.
    """
