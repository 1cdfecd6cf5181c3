"""Pushing a checkpoint to the Hugging Face Hub: `save_pretrained(..., push_to_hub="org/name")`
and `morph push DIR org/name`.

    org/name                  the repository's default branch (the repository is created if missing)
    org/name@branch           a branch, created from the default branch if missing
    org/name@branch/models/ti a folder of that branch

The checkpoint's files replace those of an earlier checkpoint in that folder (a full checkpoint
pushed over an adapter leaves no `adapter_config.json` behind); other files there, such as a model
card, are kept. The upload goes through `huggingface_hub`'s client (`HfApi.create_repo`,
`create_branch`, `upload_folder`) with the token of `hf auth login` or `HF_TOKEN`, to
`HF_ENDPOINT` when that is set (a mirror, a private Hub). What is pushed loads back by the same
name: `MORPH.from_pretrained("org/name@branch/models/ti")`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Union

from morph.checkpoint.adapter import adapter_base
from morph.checkpoint.files import CHECKPOINT_FILES, CheckpointError, CheckpointPath, resolve_checkpoint
from morph.checkpoint.hub import HubReference, hub_offline, parse_hub_reference

__all__ = ["hub_target", "push_to_hub"]

logger = logging.getLogger(__name__)


def hub_target(hub_id: str) -> HubReference:
    """`hub_id` (`org/name[@branch][/folder]`) as a place to push to; `CheckpointError` otherwise."""
    target = parse_hub_reference(hub_id) if isinstance(hub_id, str) else None
    if target is None:
        raise CheckpointError(f"push_to_hub={hub_id!r} is not a Hugging Face Hub id; name the repository as "
                              f"org/name, optionally @branch and a /folder (e.g. me/tiny-morph@v1/models/ti)")
    return target


def push_to_hub(checkpoint: Union[str, Path, CheckpointPath], hub_id: str, *, private: Optional[bool] = None,
                commit_message: Optional[str] = None, token: Optional[str] = None) -> str:
    """Upload the saved `checkpoint` (a checkpoint or run directory, full weights or an adapter) to
    the Hub as `hub_id` (`org/name[@branch][/folder]`) in one commit; returns the commit's URL.

    private: make a new repository private (an existing one keeps its visibility).
    commit_message: default "Upload <full|adapter> checkpoint with morph-pde".
    token: a Hub token with write access; default the one of `hf auth login` or `HF_TOKEN`.
    Raises `CheckpointError` naming the repository and what to do when there is no token, the
    Hub refuses the token or cannot be reached; the local checkpoint is left as it is.
    """
    from huggingface_hub import HfApi, get_token

    target = hub_target(hub_id)
    where = resolve_checkpoint(checkpoint)
    again = f"then push the saved checkpoint again with `morph push {where.directory} {target}`"
    if hub_offline():
        raise CheckpointError(f"Cannot push to the Hub repository {target}: HF_HUB_OFFLINE is set; unset it, "
                              f"{again}")
    token = token or get_token()
    if not token:
        raise CheckpointError(f"Pushing to the Hub repository {target} needs a Hugging Face token with write "
                              f"access: log in with `hf auth login` or set HF_TOKEN, {again}")
    if where.kind == "adapter":
        base = adapter_base(where.directory)
        if base != "starter" and parse_hub_reference(base) is None:
            logger.warning("the adapter pushed to %s names the local checkpoint %s as its base: who loads it "
                           "elsewhere needs that base too (push it, and load the adapter with base=its Hub id)",
                           target, base)
    endpoint = os.environ.get("HF_ENDPOINT") or None  # huggingface_hub reads it only at import
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(target.repo_id, private=private, exist_ok=True)
        if target.revision:
            api.create_branch(target.repo_id, branch=target.revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=target.repo_id, folder_path=where.directory, path_in_repo=target.subfolder or "",
            revision=target.revision, delete_patterns=list(CHECKPOINT_FILES),
            commit_message=commit_message or f"Upload {where.kind} checkpoint with morph-pde")
    except Exception as error:  # huggingface_hub's errors and the HTTP client's, all named in ours
        raise _push_error(target, error, api.endpoint, again) from error
    logger.info("pushed %s to the Hub repository %s (%s)", where.directory, target, commit.commit_url)
    return str(commit.commit_url)


def _push_error(target: HubReference, error: Exception, endpoint: str, again: str) -> CheckpointError:
    """Our error for a failed push, naming the repository and what to do."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    where = f"Pushing to the Hub repository {target}"
    if isinstance(error, OfflineModeIsEnabled):
        return CheckpointError(f"{where}: huggingface_hub was imported with HF_HUB_OFFLINE set; unset it in a new "
                               f"Python process, {again}")
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, HfHubHTTPError) and status in (401, 403):
        return CheckpointError(f"{where}: the Hub refused the token ({status}); use a token with write access to "
                               f"{target.repo_id.split('/')[0]} (`hf auth login` or HF_TOKEN), {again}")
    if isinstance(error, HfHubHTTPError):
        return CheckpointError(f"{where}: the Hub answered {status}: {error}; {again}")
    if isinstance(error, OSError) or any(kind.__name__ == "TransportError" for kind in type(error).__mro__):
        # requests' errors are OSErrors, httpx's TransportErrors
        return CheckpointError(f"{where}: cannot reach the Hub at {endpoint} ({type(error).__name__}: {error}); "
                               f"check the connection (and HF_ENDPOINT), {again}")
    return CheckpointError(f"{where}: {type(error).__name__}: {error}; {again}")
