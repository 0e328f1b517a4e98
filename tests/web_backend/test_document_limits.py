"""PDFs are read in a worker process with page and time limits (issue 21, item 2): a PDF that
takes long to read no longer stalls the backend, /health included, and over-limit files get
413/422 with a message that says why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.pdf_samples import many_pages_pdf, slow_pdf
from tests.web_backend.conftest import PASSWORD
from tests.web_backend.standalone import standalone_backend
from web_backend.app.core.pdf_worker import PdfLimits, PdfTextReader

pytestmark = pytest.mark.integration


async def _admin_with_tutor(backend, client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    email = backend.add_admin("docs")
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    tutor = await client.post("/api/tutors", json={"name": "Reader"}, headers=headers)
    assert tutor.status_code == 201, tutor.text
    return headers, tutor.json()["id"]


def _upload(name: str, data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"files": (name, data, "application/pdf")}


async def test_a_pdf_over_the_page_limit_is_413(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url, max_pdf_pages=50) as backend:
        async with backend.client() as client:
            headers, tutor_id = await _admin_with_tutor(backend, client)
            response = await client.post(
                f"/api/tutors/{tutor_id}/documents",
                files=_upload("huge.pdf", many_pages_pdf(60)),
                headers=headers,
            )
    assert response.status_code == 413
    assert response.json()["detail"] == "huge.pdf has 60 pages: at most 50 are read"


async def test_a_slow_pdf_is_422_and_health_answers_meanwhile(
    tmp_path: Path, database_url: str
) -> None:
    async with standalone_backend(tmp_path, database_url, pdf_timeout_s=2.0) as backend:
        async with backend.client() as client:
            headers, tutor_id = await _admin_with_tutor(backend, client)
            upload = asyncio.create_task(
                client.post(
                    f"/api/tutors/{tutor_id}/documents",
                    files=_upload("dense.pdf", slow_pdf(1_000_000)),
                    headers=headers,
                )
            )
            # Read inside the route (before), the PDF held the event loop for its whole ~40 s:
            # no health answer came back until the upload had finished.
            answered_meanwhile = 0
            while not upload.done():
                health = await client.get("/health")
                assert health.status_code == 200
                answered_meanwhile += 0 if upload.done() else 1
                await asyncio.sleep(0.02)
            response = await upload
    assert answered_meanwhile >= 3
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "dense.pdf could not be read within 2 s: split it into smaller files"
    )


async def test_the_worker_reads_text_and_refuses_what_is_over_its_limits() -> None:
    # Each page says "page": 4 characters and a paragraph break, so 4 pages are 24 > 20.
    reader = PdfTextReader(
        PdfLimits(max_pages=10, timeout_s=30, memory_mb=512, max_chars=20), workers=1
    )
    good = await reader.read(many_pages_pdf(3))
    assert good.kind == "text" and good.text == "page\n\npage\n\npage"
    assert (await reader.read(many_pages_pdf(4))).kind == "too_much_text"
    over = await reader.read(many_pages_pdf(11))
    assert (over.kind, over.value) == ("too_many_pages", "11")
    broken = await reader.read(b"%PDF-1.4 this is not really a pdf")
    assert broken.kind == "unreadable"
