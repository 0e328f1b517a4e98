"""PDF text extraction in a worker process, with page, time, memory and text limits.

Issue 21, item 2: a 10 MB, 80,000-page PDF blocked every request of the backend, /health
included, for 9 s, because pypdf ran inside the async route. Here each PDF is read by a
process of its own (forked from a small forkserver that has pypdf loaded, never from the
backend with its threads and connections), which is killed when it runs past its time, and
whose address space is capped so a decompression bomb ends in MemoryError, not in the
machine's OOM killer. The event loop only waits on a pipe, in a thread.

This module imports nothing of the backend: the forkserver preloads it.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from pypdf import PdfReader

_PRELOAD = ["pypdf", __name__]


@dataclass(frozen=True)
class PdfLimits:
    """What one PDF may cost."""

    max_pages: int
    timeout_s: float
    memory_mb: int
    max_chars: int


OutcomeKind = Literal["text", "too_many_pages", "too_much_text", "too_big", "unreadable", "slow"]


@dataclass(frozen=True)
class PdfOutcome:
    """What reading a PDF gave: its text, or why there is none.

    ``value`` is the page count for ``too_many_pages``, the exception's name for
    ``unreadable``, and empty otherwise.
    """

    kind: OutcomeKind
    text: str = ""
    value: str = ""


class PdfTextReader:
    """Reads the text of PDFs in worker processes, at most ``workers`` at once.

    Args:
        limits: Pages, seconds, memory and characters one PDF may take.
        workers: PDFs read at the same time; more wait their turn.
    """

    def __init__(self, limits: PdfLimits, *, workers: int = 2) -> None:
        self.limits = limits
        self._workers = workers
        self._slots: asyncio.Semaphore | None = None

    async def read(self, data: bytes) -> PdfOutcome:
        """The text of the PDF in ``data``, read without blocking the event loop."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._workers)
        async with self._slots:
            return await asyncio.to_thread(read_in_worker, data, self.limits)


def read_in_worker(data: bytes, limits: PdfLimits) -> PdfOutcome:
    """Reads the PDF in a new worker process; kills it past ``limits.timeout_s`` (blocking)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_extract, args=(data, limits, sender), name="pdf-text", daemon=True
    )
    worker.start()
    sender.close()
    try:
        if not receiver.poll(limits.timeout_s):
            return PdfOutcome("slow")
        outcome: PdfOutcome = receiver.recv()
        return outcome
    except EOFError:
        # The worker died without an answer: killed for its memory, or crashed in C code.
        return PdfOutcome("too_big")
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()
        worker.join()
        worker.close()


def _extract(data: bytes, limits: PdfLimits, sender: Connection) -> None:
    """The worker: text of every page, within the limits; the outcome goes to ``sender``."""
    cap = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        outcome = _text_of(data, limits)
    except MemoryError:
        outcome = PdfOutcome("too_big")
    except RecursionError:
        outcome = PdfOutcome("unreadable", value="RecursionError")
    except Exception as error:  # pypdf raises many kinds on malformed files
        outcome = PdfOutcome("unreadable", value=type(error).__name__)
    sender.send(outcome)
    sender.close()


def _text_of(data: bytes, limits: PdfLimits) -> PdfOutcome:
    reader = PdfReader(io.BytesIO(data))
    # The page tree's own count answers at once; len() walks the tree (33 s for 80,000 pages)
    # and is checked next, in case the count lies.
    declared = _declared_pages(reader)
    if declared is not None and declared > limits.max_pages:
        return PdfOutcome("too_many_pages", value=str(declared))
    pages = len(reader.pages)
    if pages > limits.max_pages:
        return PdfOutcome("too_many_pages", value=str(pages))
    parts: list[str] = []
    chars = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        chars += len(text) + 2
        if chars > limits.max_chars:
            return PdfOutcome("too_much_text")
        parts.append(text)
    return PdfOutcome("text", text="\n\n".join(parts))


def _declared_pages(reader: PdfReader) -> int | None:
    try:
        root: Any = reader.trailer["/Root"]
        count = root["/Pages"]["/Count"]
    except Exception:  # a malformed tree: len() below decides
        return None
    return count if isinstance(count, int) else None
