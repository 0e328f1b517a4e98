"""Resumable, checksum-verified HTTP downloads.

A download writes ``<target>.part`` and resumes it with a ``Range`` request on the next run;
only a file whose checksum matches is renamed into place, so a target path never holds a
partial or corrupt model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx

from model_fetch.progress import ProgressBar

CHUNK_BYTES = 1 << 20


class FetchError(Exception):
    """A model could not be fetched; the message says what and why."""


@dataclass(frozen=True)
class Checksum:
    """How to verify a file: ``sha256`` hex digest, or ``git-sha1`` (a git blob id)."""

    kind: str
    hexdigest: str

    def hasher(self, size: int) -> hashlib._Hash:
        if self.kind == "sha256":
            return hashlib.sha256()
        if self.kind == "git-sha1":
            # A git blob id is sha1 over "blob <size>\0" + content (the hub's id for small files).
            hasher = hashlib.sha1()
            hasher.update(f"blob {size}\0".encode())
            return hasher
        raise ValueError(f"unknown checksum kind {self.kind!r}")


def download(
    client: httpx.Client,
    url: str,
    target: Path,
    *,
    size: int | None,
    checksum: Checksum | None,
    label: str,
) -> str:
    """Fetches ``url`` into ``target``, resuming a partial download; returns what it did.

    Raises:
        FetchError: HTTP error, or the finished file's checksum or size does not match (the
            partial file is removed so the next run starts clean).
    """
    if target.exists() and _matches(target, size, checksum):
        return "already present, checksum ok"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    resumed = False
    with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
        if response.status_code == 416 and size is not None and have == size:
            pass  # the part file is already complete
        elif response.status_code == 206:
            resumed = True
            _write(response, part, have, size, label, append=True)
        elif response.status_code == 200:
            _write(response, part, 0, size, label, append=False)  # no range support: restart
        else:
            raise FetchError(f"{label}: GET {url} answered HTTP {response.status_code}")
    if not _matches(part, size, checksum):
        part.unlink()
        raise FetchError(
            f"{label}: the downloaded file does not match its published "
            f"{checksum.kind if checksum else 'size'}; removed it, run the command again"
        )
    part.replace(target)
    return "resumed, checksum ok" if resumed else "downloaded, checksum ok"


def _write(
    response: httpx.Response, part: Path, have: int, size: int | None, label: str, *, append: bool
) -> None:
    bar = ProgressBar(label, size or 0)
    done = have
    with part.open("ab" if append else "wb") as out:
        # Chunks as they arrive: a connection that breaks keeps everything received so far.
        for chunk in response.iter_bytes():
            out.write(chunk)
            done += len(chunk)
            bar.update(done)
    bar.finish(f"{done} bytes")


def _matches(path: Path, size: int | None, checksum: Checksum | None) -> bool:
    actual = path.stat().st_size
    if size is not None and actual != size:
        return False
    if checksum is None:
        return True
    hasher = checksum.hasher(actual)
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            hasher.update(block)
    return hasher.hexdigest() == checksum.hexdigest
