"""File modes for atomically written outputs.

Atomic writes stage their output in a temporary file or directory
(`tempfile.mkstemp` / `mkdtemp`: private, mode 0600 / 0700) and some writers
(safetensors) create private files too. Before the rename that publishes it,
`publish_modes` gives the output the modes a plain `open()` / `mkdir()` would
have had under the process umask, so collaborators can read shared runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

__all__ = ["publish_modes"]


def _umask() -> int:
    """The process umask, read from /proc where Linux has it (setting it to read it back, the
    portable way, briefly changes it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_modes(path: Union[str, Path]) -> None:
    """Set `path` (a file, or a directory and everything in it) to 0666 / 0777 minus the umask."""
    mask = _umask()
    path = Path(path)
    entries = [path] if path.is_file() else [path, *path.rglob("*")]
    for entry in entries:
        if not entry.is_symlink():
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)
