"""Checkpoints on the Hugging Face Hub, named by repository id.

    org/name                  the repository's default branch
    org/name@v1.0             a branch, tag or commit
    org/name@v1.0/models/ti   a subfolder of that revision holding the checkpoint

(`hf://` in front is accepted too.) The files come through `huggingface_hub`'s own cache
(`HF_HOME`, `HF_HUB_CACHE`), so a model downloaded once loads offline afterwards; with
`HF_HUB_OFFLINE=1` nothing is downloaded and a repository missing from the cache is a
`CheckpointError` that names it. A local directory of the same name wins over a Hub id.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from morph.checkpoint.errors import CheckpointError

__all__ = ["HubReference", "hub_file", "hub_offline", "hub_snapshot", "parse_hub_reference"]

HUB_SCHEME = "hf://"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PATTERN = re.compile(rf"^(?P<repo>{_NAME}/{_NAME})(?:@(?P<revision>[A-Za-z0-9._-]+))?(?:/(?P<subfolder>.+))?$")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HubReference:
    """A checkpoint on the Hub: repository id, revision (None: the default branch) and subfolder."""

    repo_id: str
    revision: Optional[str] = None
    subfolder: Optional[str] = None

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "") + (
            f"/{self.subfolder}" if self.subfolder else "")


def parse_hub_reference(text: str) -> Optional[HubReference]:
    """`text` as a Hub reference (`[hf://]org/name[@revision][/subfolder]`), or None when it is
    not shaped like one (an absolute or dotted path, a single name)."""
    text = str(text)
    if text.startswith(HUB_SCHEME):
        text = text[len(HUB_SCHEME):]
    elif text.startswith((".", "/", "~")) or "\\" in text:
        return None
    match = _PATTERN.match(text)
    if match is None:
        return None
    subfolder = match["subfolder"]
    if subfolder is not None and (".." in subfolder.split("/") or subfolder.startswith("/")):
        return None
    return HubReference(match["repo"], match["revision"], subfolder.strip("/") if subfolder else None)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _cache_dir() -> Optional[str]:
    return os.environ.get("HF_HUB_CACHE") or None


def _hub_error(reference: str, error: Exception, download: str) -> CheckpointError:
    """Our error for a failed Hub lookup, naming the reference and what to do (`download`: the
    `hf download` arguments that fetch it)."""
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    if isinstance(error, LocalEntryNotFoundError) or (hub_offline() and isinstance(error, EntryNotFoundError)):
        return CheckpointError(
            f"Hub checkpoint {reference}: not in the local Hugging Face cache and downloading is "
            f"{'switched off (HF_HUB_OFFLINE is set)' if hub_offline() else 'not possible (no connection)'}; "
            f"download it once where the Hub is reachable (`hf download {download}`, into the same cache), or "
            f"copy the files here and pass their path")
    if isinstance(error, RevisionNotFoundError):
        return CheckpointError(f"Hub checkpoint {reference}: the repository has no such revision; "
                               f"name a branch, tag or commit after @")
    if isinstance(error, RepositoryNotFoundError):
        return CheckpointError(f"Hub checkpoint {reference}: no such repository on the Hub (or it is private: "
                               f"log in with `hf auth login`); a local directory of that name does not exist either")
    if isinstance(error, EntryNotFoundError):
        return CheckpointError(f"Hub checkpoint {reference}: the repository has no such file or subfolder")
    return CheckpointError(f"Hub checkpoint {reference}: {type(error).__name__}: {error}")


def hub_snapshot(reference: HubReference) -> Path:
    """The local directory holding the checkpoint `reference` names (its subfolder, when it names
    one), downloaded into the Hub cache first unless it is there; `CheckpointError` otherwise."""
    from huggingface_hub import snapshot_download

    patterns = [f"{reference.subfolder}/*"] if reference.subfolder else None
    try:
        root = snapshot_download(reference.repo_id, revision=reference.revision, allow_patterns=patterns,
                                 cache_dir=_cache_dir(), local_files_only=hub_offline())
    except Exception as error:  # huggingface_hub's errors and the HTTP client's, all named in ours
        raise _hub_error(str(reference), error, reference.repo_id) from error
    directory = Path(root) / (reference.subfolder or "")
    if not directory.is_dir():
        raise CheckpointError(f"Hub checkpoint {reference}: the repository has no folder "
                              f"{reference.subfolder!r} at that revision")
    return directory


def hub_file(repo_id: str, filename: str, subfolder: Optional[str] = None, revision: Optional[str] = None) -> Path:
    """One file of a Hub repository (e.g. a published `.pth`), from the Hub cache or downloaded
    into it; `CheckpointError` naming the file when it cannot be had."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, subfolder=subfolder, revision=revision,
                                    cache_dir=_cache_dir(), local_files_only=hub_offline()))
    except Exception as error:
        path = f"{subfolder}/{filename}" if subfolder else filename
        raise _hub_error(f"{repo_id}{'@' + revision if revision else ''}/{path}", error, f"{repo_id} {path}") from error
