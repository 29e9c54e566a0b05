"""Push checkpoints and dataset trees to the Hugging Face Hub, with a dry run that writes the exact upload tree.

Transport only (upload trees are built by `sft_vs_rl.model_card` and `sft_vs_rl.data`); this module imports nothing
else of the library. `huggingface_hub` has no dry run for uploads, and offline it fails late: `upload_folder` retries
a failed connection for ~23 s before raising `httpx.ConnectError` (reference `ecosystem_api.md` §4). So
[`push_folder`]:

* with `dry_run=DIR` copies exactly the files `upload_folder` would send into `DIR` and returns their repository
  paths, touching no network;
* otherwise checks the Hub first ([`check_hub_reachable`]): `HF_HUB_OFFLINE` set fails at once, an unreachable
  endpoint fails after one short probe, both with a [`HubUnreachableError`] naming the cause and the fix; only then
  does it call `create_repo(exist_ok=True)` and `upload_folder`.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["HubUnreachableError", "PushResult", "check_hub_reachable", "push_folder"]

_OFFLINE_VALUES = {"1", "true", "yes", "on"}


class HubUnreachableError(ConnectionError):
    """The Hub cannot be used right now; the message names the cause (offline flag, unreachable endpoint)."""


@dataclass(frozen=True)
class PushResult:
    """What [`push_folder`] did.

    Args:
        repo_id (`str`): target repository.
        repo_type (`str`): `"model"`, `"dataset"` or `"space"`.
        paths (`list[str]`): repository paths of the uploaded files (the `path_in_repo` of the
            `CommitOperationAdd`s `upload_folder` creates), sorted.
        dry_run_dir (`Path`, *optional*): where the dry run wrote the tree; `None` for a real push.
        commit_url (`str`, *optional*): URL of the Hub commit; `None` for a dry run.
    """

    repo_id: str
    repo_type: str
    paths: list[str]
    dry_run_dir: Path | None = None
    commit_url: str | None = None


def _env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def check_hub_reachable(endpoint: str | None = None, *, timeout: float = 5.0, offline: bool | None = None) -> None:
    """Fail fast, with the cause, when the Hub cannot be reached.

    Args:
        endpoint (`str`, *optional*):
            Hub URL; defaults to `huggingface_hub.constants.ENDPOINT` (`HF_ENDPOINT`).
        timeout (`float`, *optional*, defaults to `5.0`):
            Seconds to wait for the probe (one HTTP `HEAD` on the endpoint; any HTTP answer counts as reachable).
        offline (`bool`, *optional*):
            Treat the Hub as offline. Defaults to `HF_HUB_OFFLINE`, as read by `huggingface_hub` at import or set in
            the environment now.

    Raises:
        `HubUnreachableError`: offline mode is on, or the endpoint did not answer within `timeout`.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import httpx

    if offline is None:
        offline = bool(constants.HF_HUB_OFFLINE) or _env_offline()
    if offline:
        raise HubUnreachableError(
            "Cannot push to the Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE=1; huggingface_hub reads it "
            "when first imported). Unset HF_HUB_OFFLINE in a fresh process to push, or pass --dry-run DIR / "
            "dry_run=DIR to write the upload tree locally."
        )
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    try:
        # A plain client: huggingface_hub's session would refuse on its own offline flag, hiding the real cause.
        httpx.head(endpoint, timeout=timeout, follow_redirects=False)
    except (httpx.TransportError, httpx.TimeoutException, OSError) as err:
        raise HubUnreachableError(
            f"Cannot push to the Hugging Face Hub: the endpoint {endpoint} is unreachable "
            f"({type(err).__name__}: {err or 'no answer'} within {timeout:g} s). Check the network, proxy and "
            "HF_ENDPOINT, or pass --dry-run DIR / dry_run=DIR to write the upload tree locally."
        ) from err


def _upload_paths(folder: Path) -> list[str]:
    """Relative paths `upload_folder` would upload from `folder` (its default ignore patterns applied)."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    files = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
    return sorted(filter_repo_objects(files, ignore_patterns=list(DEFAULT_IGNORE_PATTERNS)))


def _check_readme(folder: Path) -> None:
    """Validate the YAML metadata of `README.md` locally, as `upload_folder` does remotely before hashing."""
    readme = folder / "README.md"
    if readme.is_file():
        from huggingface_hub import RepoCard

        try:
            RepoCard(readme.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"{readme}: the card's YAML metadata is invalid ({err}); fix the header.") from err


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str = "model",
    dry_run: str | Path | None = None,
    commit_message: str = "Upload with sft-vs-rl",
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Upload every file of `folder` to the Hub repository `repo_id`, or write the exact upload tree to `dry_run`.

    Args:
        folder (`str` or `Path`):
            The upload tree (e.g. from [`prepare_model_upload`] or a dataset export). Uploaded as is, minus the
            `.git` / `.cache/huggingface` folders that `upload_folder` always skips.
        repo_id (`str`):
            Target repository, `"org/name"`.
        repo_type (`str`, *optional*, defaults to `"model"`):
            `"model"`, `"dataset"` or `"space"`.
        dry_run (`str` or `Path`, *optional*):
            Write the files that would be uploaded into this empty (or new) folder instead of pushing.
        commit_message (`str`, *optional*, defaults to `"Upload with sft-vs-rl"`):
            Message of the Hub commit.
        private (`bool`, *optional*, defaults to `False`):
            Create the repository as private (an existing repository keeps its visibility).
        token (`str`, *optional*):
            Hub token; defaults to the logged-in token.
        endpoint (`str`, *optional*):
            Hub URL; defaults to `HF_ENDPOINT`.

    Returns:
        [`PushResult`]: the repository paths, and the dry-run folder or the commit URL.

    Raises:
        `HubUnreachableError`: not a dry run and the Hub is offline or unreachable (raised before any upload work).
        `ValueError`: bad `repo_id` / `repo_type`, an empty folder, an invalid card header, or a non-empty `dry_run`.

    Example:

    ```python
    >>> result = push_folder("upload/", "me/gp-l-rl", dry_run="dry/")
    >>> result.paths
    ['README.md', 'config.json', 'model.safetensors', ...]
    ```
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"push_folder: folder={str(folder)!r} is not a directory; pass the upload tree to push.")
    if repo_type not in ("model", "dataset", "space"):
        raise ValueError(f"push_folder: repo_type={repo_type!r} is not valid; choose 'model', 'dataset' or 'space'.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"push_folder: repo_id={repo_id!r} is not a valid Hub id ({err}); use 'org/name'.") from err
    if "/" not in repo_id:
        raise ValueError(f"push_folder: repo_id={repo_id!r} lacks the namespace; use 'org/name' (e.g. 'me/{repo_id}').")
    paths = _upload_paths(folder)
    if not paths:
        raise ValueError(f"push_folder: {str(folder)!r} holds no file to upload.")
    _check_readme(folder)

    if dry_run is not None:
        target = Path(dry_run)
        if target.exists() and any(target.iterdir()):
            raise ValueError(
                f"push_folder: dry_run={str(target)!r} is not empty; pass a new or empty folder so that it holds "
                "exactly the upload tree."
            )
        if target.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"push_folder: dry_run={str(target)!r} lies inside the folder to upload; pick another.")
        for path in paths:
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / path, destination)
        logger.info("Dry run: wrote %d files for %s %s to %s", len(paths), repo_type, repo_id, target)
        return PushResult(repo_id=repo_id, repo_type=repo_type, paths=paths, dry_run_dir=target)

    check_hub_reachable(endpoint)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        logger.info("Uploading %d files to %s", len(paths), repo_url)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=folder, repo_type=repo_type, commit_message=commit_message
        )
    except (OfflineModeIsEnabled, httpx.ConnectError, httpx.TimeoutException) as err:
        raise HubUnreachableError(f"Push to {repo_id} failed: the Hub became unreachable ({err}).") from err
    return PushResult(repo_id=repo_id, repo_type=repo_type, paths=paths, commit_url=commit.commit_url)
