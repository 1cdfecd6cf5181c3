"""Atomic writes: the one way this toolkit writes a file or a directory.

Every output (stores, checkpoints, training state, exports, JSON records, plots)
is written under a hidden temporary name next to its target and renamed over it
only when complete, so an interrupted run never leaves a half-written output
that looks finished:

    with atomic_file(path) as tmp:          # tmp: a sibling file name, same suffix
        write_to(tmp)
    with atomic_directory(path) as staging: # staging: an empty sibling directory
        write_into(staging)
    write_text_atomic(path, text)
    write_json_atomic(path, value)          # strict JSON: NaN and Infinity become null

Temporary files and directories are private (0600 / 0700) and some writers
(safetensors) create private files too; before the rename that publishes it,
the output gets the modes a plain `open()` / `mkdir()` would have had under
the process umask (`publish_modes`), so collaborators can read shared runs.

Durable, not only atomic: before the rename the new file (or every file and
directory of the new directory) is flushed to the disk with `fsync`, and after
it the directory that holds the name, so that a power loss never leaves an
empty or partial output under its final name, nor loses a rename already
reported done. `_commit` is the one place that does it; every writer above goes
through it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

__all__ = ["atomic_directory", "atomic_file", "json_text", "publish_directory", "publish_modes", "write_json_atomic",
           "write_text_atomic"]

PathLike = Union[str, "os.PathLike[str]"]

logger = logging.getLogger(__name__)


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


def publish_modes(path: PathLike) -> None:
    """Set `path` (a file, or a directory and everything in it) to 0666 / 0777 minus the umask."""
    mask = _umask()
    path = Path(path)
    entries = [path] if path.is_file() else [path, *path.rglob("*")]
    for entry in entries:
        if not entry.is_symlink():
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


@contextmanager
def atomic_file(path: PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of the file `path` (same suffix, so writers that go by the
    suffix still work); when the block ends without error it replaces `path`, else it is removed.

    The parent directory must exist.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: PathLike) -> Iterator[Path]:
    """Yield an empty staging directory next to `path` (parents are created); when the block
    ends without error the staging directory replaces `path` as a whole (a previous `path` is
    moved aside first, then removed), else it is removed.

    Raises `NotADirectoryError` when `path` is an existing file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file; choose a directory path")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield staging
        publish_directory(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish_directory(staging: PathLike, path: PathLike) -> None:
    """Give the complete directory `staging` its published modes and move it to `path` (a sibling),
    replacing a previous `path` as a whole. For writers that cannot use `atomic_directory` (several
    processes writing into one staging directory whose name they agree on)."""
    staging, path = Path(staging), Path(path)
    if not path.exists():
        _commit(staging, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.replace(path, old / path.name)
    _commit(staging, path)
    shutil.rmtree(old, ignore_errors=True)


def _commit(staged: Path, path: Path) -> None:
    """Publish the complete file or directory `staged` under the name `path` (a sibling), durably:
    its modes set (`publish_modes`), its contents flushed to the disk, then the rename, then the
    directory holding both flushed (the rename itself)."""
    if not staged.exists():
        raise FileNotFoundError(f"{staged}: nothing was written there to publish as {path}")
    publish_modes(staged)
    for entry in ([staged] if staged.is_file() else [*staged.rglob("*"), staged]):
        if not entry.is_symlink():
            _fsync(entry)
    os.replace(staged, path)
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    """Flush the file or directory `path` to the disk. A directory that cannot be opened or synced
    (Windows; a few network file systems refuse `fsync` on directories) is skipped."""
    directory = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if not directory:
            raise
        logger.debug("cannot open directory %s to fsync it; skipped", path)
        return
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
        logger.debug("fsync of directory %s refused; skipped", path)
    finally:
        os.close(fd)


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write `text` to the file `path` atomically; returns the path."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return path


def json_text(value: Any, indent: Optional[int] = 2) -> str:
    """`value` as strict JSON text: NaN and +-Infinity, which `json.dumps` writes as bare tokens that
    JSON parsers refuse (a diverged loss, a metric of a blown-up rollout), become null."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)


def write_json_atomic(path: PathLike, value: Any, indent: Optional[int] = 2) -> Path:
    """Write `value` as strict JSON (`json_text`, then a newline) to the file `path` atomically."""
    return write_text_atomic(path, json_text(value, indent) + "\n")


def _finite(value: Any) -> Any:
    """`value` with every non-finite float (in dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
