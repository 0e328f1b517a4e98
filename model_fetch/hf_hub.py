"""Files of a Hugging Face hub repository, with the checksums the hub publishes.

Uses the hub's plain HTTP API (``HF_ENDPOINT``, default https://huggingface.co), the same one
``huggingface_hub`` uses: ``/api/models/<repo>/revision/<rev>?blobs=true`` lists the files with
their size, git blob id and, for large (LFS) files, a sha256; ``/<repo>/resolve/<rev>/<file>``
serves them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from model_fetch.download import Checksum, FetchError, download

DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class HubFile:
    """One file of a repository revision."""

    path: str
    size: int | None
    checksum: Checksum | None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def list_files(client: httpx.Client, repo: str, revision: str) -> list[HubFile]:
    """Every file of ``repo`` at ``revision``.

    Raises:
        FetchError: The repository or revision does not exist, or the hub is unreachable.
    """
    url = f"{endpoint()}/api/models/{repo}/revision/{revision}"
    try:
        response = client.get(url, params={"blobs": "true"})
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach the model hub at {endpoint()}: {exc}") from exc
    if response.status_code in (401, 404):
        raise FetchError(f"no model repository {repo!r} at revision {revision!r} on {endpoint()}")
    if response.status_code != 200:
        raise FetchError(f"{url} answered HTTP {response.status_code}")
    files = []
    for sibling in response.json().get("siblings", []):
        lfs = sibling.get("lfs") or {}
        checksum = None
        if lfs.get("sha256"):
            checksum = Checksum("sha256", lfs["sha256"])
        elif sibling.get("blobId"):
            checksum = Checksum("git-sha1", sibling["blobId"])
        size = lfs.get("size", sibling.get("size"))
        files.append(HubFile(sibling["rfilename"], size, checksum))
    return files


def fetch_file(client: httpx.Client, repo: str, revision: str, file: HubFile, target: Path) -> str:
    """Downloads one listed file to ``target`` (resumable, verified); returns what it did."""
    url = f"{endpoint()}/{repo}/resolve/{revision}/{file.path}"
    return download(
        client, url, target, size=file.size, checksum=file.checksum, label=f"{repo}/{file.path}"
    )
