"""Uploaded files: size limits, type checks by content, and text extraction from documents."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, UploadFile, status

from web_backend.app.core.pdf_worker import PdfTextReader

logger = logging.getLogger(__name__)

_COPY_CHUNK = 1024 * 1024


def too_large(what: str, limit: int) -> HTTPException:
    """The 413 for an upload over its limit."""
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=f"{what} is larger than {limit // (1024 * 1024)} MB",
    )


def unsupported(detail: str) -> HTTPException:
    """The 415 for a file of a type the backend does not take."""
    return HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=detail)


async def save_upload(upload: UploadFile, *, limit: int, what: str, directory: Path) -> Path:
    """Copies an upload to a new file in `directory`, refusing it past `limit` bytes.

    Raises:
        HTTPException: 413 when the file is over the limit, 422 when it is empty.
    """
    if upload.size is not None and upload.size > limit:
        raise too_large(what, limit)
    # Starlette has spooled the upload already; copying it is blocking file work.
    return await asyncio.to_thread(_copy_limited, upload.file, limit, what, directory)


def _copy_limited(source: BinaryIO, limit: int, what: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source.seek(0)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, prefix="upload-") as handle:
        path = Path(handle.name)
        try:
            written = 0
            while chunk := source.read(_COPY_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise too_large(what, limit)
                handle.write(chunk)
            if written == 0:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{what} is empty"
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path


def video_format(path: Path) -> str:
    """The container of a video file by its first bytes: "mp4", "mov" or "webm".

    Raises:
        HTTPException: 415 when it is none of them.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    raise unsupported("the avatar video must be MP4, MOV or WebM")


def audio_extension(path: Path) -> str:
    """The extension of an audio file by its first bytes (wav, mp3, ogg, flac, m4a, webm).

    Raises:
        HTTPException: 415 for anything else.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return ".wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return ".mp3"
    if head[:4] == b"OggS":
        return ".ogg"
    if head[:4] == b"fLaC":
        return ".flac"
    if head[4:8] == b"ftyp":
        return ".m4a"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".webm"
    raise unsupported("the voice sample must be WAV, MP3, OGG, FLAC, M4A or WebM audio")


def move_into(path: Path, destination: Path) -> None:
    """Moves a saved upload to where it is kept."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, destination)


async def document_text(filename: str, data: bytes, pdfs: PdfTextReader) -> tuple[str, str]:
    """The plain text of a document and its content type.

    Text and Markdown must be UTF-8; PDFs must have a text layer (scans are refused) and are
    read in a worker process within ``pdfs.limits``.

    Raises:
        HTTPException: 415 for other types; 413 for a PDF over its page or text limit; 422 for
            unreadable or textless files, or a PDF that takes too long to read.
    """
    name = filename.lower()
    if data[:5] == b"%PDF-" or name.endswith(".pdf"):
        return await _pdf_text(filename, data, pdfs), "application/pdf"
    if name.endswith((".txt", ".md", ".markdown", ".text")):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{filename} is not UTF-8 text"
            ) from None
        if "\x00" in text:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{filename} is not a text file"
            )
        if len(text) > pdfs.limits.max_chars:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                detail=f"{filename} has more than {pdfs.limits.max_chars} characters",
            )
        kind = "text/markdown" if name.endswith((".md", ".markdown")) else "text/plain"
        return _must_have_text(filename, text), kind
    raise unsupported(f"{filename}: documents must be .txt, .md or .pdf")


async def _pdf_text(filename: str, data: bytes, pdfs: PdfTextReader) -> str:
    outcome = await pdfs.read(data)
    limits = pdfs.limits
    if outcome.kind == "text":
        return _must_have_text(filename, outcome.text)
    logger.info("PDF upload refused: %s %s", outcome.kind, outcome.value)
    if outcome.kind == "too_many_pages":
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{filename} has {outcome.value} pages: at most {limits.max_pages} are read",
        )
    if outcome.kind == "too_much_text":
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"{filename} has more than {limits.max_chars} characters of text",
        )
    if outcome.kind == "slow":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{filename} could not be read within {limits.timeout_s:g} s: "
            "split it into smaller files",
        )
    if outcome.kind == "too_big":
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{filename} needs more than {limits.memory_mb} MB to read",
        )
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{filename} could not be read as a PDF"
    )


def _must_have_text(what: str, text: str) -> str:
    if not text.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{what} has no text")
    return text
